"""The drop announcement: how it looks, and keeping its live waitlist count fresh cheaply.

Joins never edit the post themselves: they mark the drop dirty, and one background loop edits
each dirty announcement at most once per interval. A burst of a thousand joins costs a handful
of edits, and none of them sits on a fan's click.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.localtime import discord_timestamp, format_local
from cogs.drops.service import ALLOCATIONS, Drop, DropService

if TYPE_CHECKING:
    from bot.bot import Dropbell

log = logging.getLogger("dropbell.drops")

STATUS_COLOURS = {
    "scheduled": discord.Colour.blurple(),
    "live": discord.Colour.green(),
    "closed": discord.Colour.dark_grey(),
    "cancelled": discord.Colour.red(),
}


def requirements_text(drop: Drop) -> str | None:
    parts = []
    if drop.required_role_id:
        parts.append(f"the <@&{drop.required_role_id}> role")
    if drop.min_account_age_days:
        parts.append(f"a Discord account at least {drop.min_account_age_days} days old")
    if drop.min_member_days:
        parts.append(f"at least {drop.min_member_days} days in this server")
    return "To join you need " + ", ".join(parts) + "." if parts else None


def render_embed(drop: Drop, waitlist_count: int) -> discord.Embed:
    suffix = {"scheduled": "", "live": " (open now)"}.get(drop.status, f" ({drop.status})")
    title = drop.name + suffix
    embed = discord.Embed(
        title=title, description=drop.description or None, colour=STATUS_COLOURS[drop.status]
    )
    embed.add_field(
        name="Opens",
        value=f"{discord_timestamp(drop.starts_at)} ({discord_timestamp(drop.starts_at, 'R')})",
        inline=False,
    )
    stock = f"{drop.stock:,}" if drop.remaining == drop.stock else f"{drop.remaining:,} left"
    embed.add_field(name="Stock", value=stock, inline=True)
    embed.add_field(name="Waitlist", value=f"{waitlist_count:,} waiting", inline=True)
    embed.add_field(name="How links are given", value=ALLOCATIONS[drop.allocation], inline=False)
    if drop.early_access_minutes:
        embed.add_field(
            name="Early access",
            value=f"Collectors get {drop.early_access_minutes} minutes' head start.",
            inline=False,
        )
    requirements = requirements_text(drop)
    if requirements:
        embed.add_field(name="Who can join", value=requirements, inline=False)
    if drop.status == "cancelled":
        embed.add_field(name="Cancelled", value="This drop was cancelled.", inline=False)
    if drop.image_url:
        embed.set_image(url=drop.image_url)
    embed.set_footer(
        text=f"dropbell · drop {drop.id} · {format_local(drop.starts_at, drop.timezone)}"
    )
    return embed


def render_view(drop: Drop) -> discord.ui.View:
    # Imported here: the buttons module needs the cog, which needs this module.
    from cogs.drops.buttons import JoinButton, RemindButton

    view = discord.ui.View(timeout=None)
    for button in (JoinButton(drop.id), RemindButton(drop.id)):
        button.item.disabled = not drop.is_open
        view.add_item(button)
    return view


class AnnouncementRefresher:
    """Coalesces waitlist-count edits: at most one edit per drop every ``interval`` seconds."""

    def __init__(self, bot: Dropbell, service: DropService, interval: float = 3.0) -> None:
        self.bot = bot
        self.service = service
        self.interval = interval
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0

    def mark(self, drop_id: int) -> None:
        self._dirty.add(drop_id)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dropbell-announcement-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Whatever was still dirty gets one last edit so the post ends up right.
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self.interval)

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for drop_id in dirty:
            try:
                await self.refresh(drop_id)
            except Exception:
                log.exception("could not refresh the announcement of drop %s", drop_id)

    async def refresh(self, drop_id: int, drop: Drop | None = None) -> None:
        if drop is None:
            drop = await self.service.get_any(drop_id)
        if drop is None or drop.channel_id is None or drop.message_id is None:
            return
        count = await self.service.waitlist_count(drop.id)
        message = self.bot.get_partial_messageable(drop.channel_id).get_partial_message(
            drop.message_id
        )
        await message.edit(embed=render_embed(drop, count), view=render_view(drop))
        self.edits += 1


async def post_announcement(
    channel: discord.abc.Messageable, drop: Drop, ping_role: discord.Role | None
) -> discord.Message:
    kwargs: dict[str, Any] = {"embed": render_embed(drop, 0), "view": render_view(drop)}
    if ping_role is not None:
        # One role mention in one post reaches everyone who wants it; never mass DMs.
        kwargs["content"] = ping_role.mention
        kwargs["allowed_mentions"] = discord.AllowedMentions(roles=[ping_role])
    return await channel.send(**kwargs)
