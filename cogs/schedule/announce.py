"""``/announce schedule | list | cancel`` (managers). Thin: parsing and replies only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.errors import UserError
from bot.ui import ManagerCog, guild_id_of, services_of
from cogs._options import timezone_autocomplete
from cogs.schedule.buttons import preview_view
from services import localtime
from services.schedule import render
from services.schedule.announcements import local_time
from services.schedule.reports import describe
from services.text import fit_lines
from storage.states import SendKind

if TYPE_CHECKING:
    from bot.bot import Dropbell

Repeat = Literal["daily", "weekly"]
# More rows than one message can show; the rest are only counted.
RENDERED_AT_MOST = 60


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class AnnounceCommands(
    ManagerCog, group_name="announce", group_description="Scheduled announcements"
):
    @app_commands.command(name="schedule", description="Schedule an announcement")
    @app_commands.describe(
        channel="Where to post it",
        message="What to post (role mentions ping once)",
        at="When, as YYYY-MM-DD HH:MM (24 h) in the time zone below",
        timezone="IANA time zone, such as Europe/Berlin",
        repeat="Post it again every day or every week at the same local time",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def schedule(
        self,
        interaction: discord.Interaction[Dropbell],
        channel: discord.TextChannel,
        message: app_commands.Range[str, 1, render.MAX_ANNOUNCEMENT],
        at: app_commands.Range[str, 1, 40],
        timezone: app_commands.Range[str, 1, 64],
        repeat: Repeat | None = None,
    ) -> None:
        due_at = localtime.parse_local(at, timezone)
        draft = await services_of(interaction).schedule.announcements.draft(
            guild_id_of(interaction),
            channel.id,
            message,
            due_at,
            timezone,
            repeat,
            interaction.user.id,
        )
        every = (
            f", then every {'day' if repeat == 'daily' else 'week'} at that local time"
            if repeat
            else ""
        )
        # The message goes in an embed (room for 4,096): up to 1,900 characters of it plus
        # this heading would not fit in one message's 2,000.
        await interaction.response.send_message(
            f"**Preview** — posts in <#{channel.id}> at {local_time(draft)} "
            f"({localtime.discord_timestamp(due_at, 'F')} in your time, "
            f"{localtime.discord_timestamp(due_at, 'R')}){every}:",
            embed=discord.Embed(description=draft.message),
            view=preview_view(draft.id),
            ephemeral=True,
        )

    @app_commands.command(name="list", description="What is scheduled to be posted")
    async def list_pending(self, interaction: discord.Interaction[Dropbell]) -> None:
        schedule = services_of(interaction).schedule
        rows = await schedule.announcements.pending(guild_id_of(interaction))
        if not rows:
            await interaction.response.send_message(
                "Nothing is scheduled. Use /announce schedule, or create a drop.", ephemeral=True
            )
            return
        lines = []
        zones: dict[int, str] = {}  # a drop's zone, looked up once per drop
        for row in rows[:RENDERED_AT_MOST]:
            relative = localtime.discord_timestamp(row.due_at, "R")
            if row.kind == SendKind.ANNOUNCEMENT:
                # Only announcements carry an id: it is what /announce cancel takes.
                repeat = f" · {row.repeat}" if row.repeat else ""
                text = _short(row.message or "")
                lines.append(
                    f"#{row.id} · {local_time(row)} ({relative}) · <#{row.channel_id}>{repeat} "
                    f"· {text}"
                )
                continue
            # A drop's posts follow the drop (change it with /drop edit): shown in its zone.
            if row.drop_id is not None and row.drop_id not in zones:
                drop = await schedule.drops.get_any(row.drop_id)
                zones[row.drop_id] = drop.timezone if drop is not None else "UTC"
            zone = zones.get(row.drop_id, "UTC") if row.drop_id is not None else "UTC"
            when = f"{localtime.format_local(row.due_at, zone)} ({relative})"
            lines.append(f"{when} · {await describe(row, schedule.drops)} (follows the drop)")
        cancellable = any(row.kind == SendKind.ANNOUNCEMENT for row in rows)
        tail = (
            "Cancel an announcement with /announce cancel and its #number." if cancellable else ""
        )
        await interaction.response.send_message(
            fit_lines(lines, tail=tail, total=len(rows)), ephemeral=True
        )

    @app_commands.command(name="cancel", description="Cancel a scheduled announcement")
    @app_commands.describe(announcement="The announcement to cancel")
    async def cancel(self, interaction: discord.Interaction[Dropbell], announcement: str) -> None:
        typed = announcement.strip().lstrip("#")
        if not typed.isdigit():
            raise UserError(f"{announcement!r} is not an announcement; pick one from the list.")
        row = await services_of(interaction).schedule.announcements.cancel(
            guild_id_of(interaction), int(typed)
        )
        await interaction.response.send_message(
            f"Cancelled: “{_short(row.message or '')}” will not be posted in <#{row.channel_id}>.",
            ephemeral=True,
        )

    @cancel.autocomplete("announcement")
    async def cancel_autocomplete(
        self, interaction: discord.Interaction[Dropbell], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        announcements = services_of(interaction).schedule.announcements
        rows = await announcements.pending_announcements(interaction.guild_id)
        needle = current.strip().casefold()
        choices = []
        for row in rows:
            label = f"{local_time(row)} · {_short(row.message or '', 50)}"
            if needle in label.casefold() or needle == str(row.id):
                choices.append(app_commands.Choice(name=label[:100], value=str(row.id)))
        return choices[:25]
