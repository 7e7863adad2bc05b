"""``/waitlist join | leave | status`` and the Join / Remind me buttons (fans' side)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import guild_id_of, services_of
from cogs.drops.options import (
    drop_autocomplete,
    member_facts,
    member_in_drop_server,
    resolve_drop,
)
from services.drops.wording import (
    opening_phrase,
    place_phrase,
    place_sentence,
    raffle_phrase,
    reminder_on_sentence,
)
from services.localtime import utcnow
from services.text import fit_lines, plural
from storage.states import DropStatus

if TYPE_CHECKING:
    from bot.bot import Dropbell

RECENTLY_ENDED = timedelta(days=7)


async def answer_join(interaction: discord.Interaction[Any], drop_id: int) -> None:
    """A join, by slash command or button (on the announcement, or in the thank-you DM after
    a purchase): the same sentence every way."""
    fan: discord.Member | discord.User
    if interaction.guild_id is None:
        guild_id, fan = await member_in_drop_server(interaction, drop_id)
    else:
        guild_id, fan = interaction.guild_id, interaction.user
    joined = await services_of(interaction).drops.join(
        guild_id, drop_id, fan.id, fan.display_name, member_facts(fan)
    )
    # The one REST call of a join; the announcement count follows off the hot path.
    await interaction.response.send_message(place_sentence(joined), ephemeral=True)


async def answer_reminder_toggle(interaction: discord.Interaction[Any], drop_id: int) -> None:
    services = services_of(interaction)
    offsets = services.schedule.config.offsets.reminders
    toggled = await services.drops.toggle_reminder(
        guild_id_of(interaction), drop_id, interaction.user.id, offsets
    )
    drop = toggled.drop
    sentence = (
        reminder_on_sentence(drop, offsets, utcnow(), on_waitlist=toggled.on_waitlist)
        if toggled.enabled
        else f"Reminders are **off** for **{drop.name}**; you won't get DMs about it."
    )
    await interaction.response.send_message(sentence, ephemeral=True)


@app_commands.guild_only()
class Waitlist(commands.GroupCog, group_name="waitlist", group_description="Drop waitlists"):
    @app_commands.command(name="join", description="Join a drop's waitlist")
    @app_commands.describe(drop="The drop to join")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def join_command(self, interaction: discord.Interaction[Dropbell], drop: str) -> None:
        found = await resolve_drop(interaction, drop)
        await answer_join(interaction, found.id)

    @app_commands.command(name="leave", description="Leave a drop's waitlist")
    @app_commands.describe(drop="The drop to leave")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def leave(self, interaction: discord.Interaction[Dropbell], drop: str) -> None:
        found = await resolve_drop(interaction, drop)
        left = await services_of(interaction).drops.leave(
            found.guild_id, found.id, interaction.user.id
        )
        await interaction.response.send_message(
            f"You've left the waitlist for **{left.name}**. You can join again any time "
            "(at the back of the line).",
            ephemeral=True,
        )

    @app_commands.command(name="status", description="Your places on this server's waitlists")
    async def status(self, interaction: discord.Interaction[Dropbell]) -> None:
        drops = services_of(interaction).drops
        entries = await drops.fan_entries(guild_id_of(interaction), interaction.user.id)
        # A reminder without an entry is shown too, and said to be no place in line.
        reminded = [
            f"**{drop.name}**: 🔔 reminder on, not on the waitlist — {opening_phrase(drop)}"
            for drop in await drops.reminder_only(guild_id_of(interaction), interaction.user.id)
            if drop.is_open
        ]
        if not entries and not reminded:
            await interaction.response.send_message(
                "You're not on any waitlist here yet. Use /waitlist join or a drop's Join button.",
                ephemeral=True,
            )
            return
        # Open drops first; an ended one only while it is news (a week after its date).
        recent = utcnow() - RECENTLY_ENDED
        lines = []
        for entry in sorted(entries, key=lambda entry: not entry.drop.is_open):
            drop = entry.drop
            bell = " 🔔" if entry.reminders else ""
            if drop.drawn_at is not None and drop.is_open:
                lines.append(f"**{drop.name}**: {raffle_phrase(drop, entry.draw_rank)}{bell}")
            elif drop.is_open:
                standing = place_phrase(drop, entry.place, entry.total)
                lines.append(f"**{drop.name}**: {standing}, {opening_phrase(drop)}{bell}")
            elif drop.starts_at < recent:
                continue
            elif drop.status == DropStatus.CANCELLED:
                lines.append(f"**{drop.name}** was cancelled; nothing more will happen.")
            else:
                lines.append(f"**{drop.name}**: {drop.status}.")
        older = len(entries) - len(lines)
        lines.extend(reminded)
        tail = f"(and {plural(older, 'older drop')} not shown)" if older else ""
        text = (
            fit_lines(lines, tail=tail)
            if lines
            else f"Nothing open for you right now {tail}".rstrip() + "."
        )
        await interaction.response.send_message(text, ephemeral=True)
