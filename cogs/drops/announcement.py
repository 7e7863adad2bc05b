"""The drop announcement: how it looks, and keeping its live waitlist count fresh cheaply.

Joins never edit the post themselves: they mark the drop dirty, and one background loop edits
each dirty announcement at most once per interval. A burst of a thousand joins costs a handful
of edits, and none of them sits on a fan's click.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import discord
from discord.ext import commands

from bot.ui import view_of
from cogs.drops.buttons import JoinButton, RemindButton
from services import metrics
from services.drops.rules import ALLOCATIONS
from services.drops.service import DropService
from services.localtime import discord_timestamp, format_local
from storage.drops import Drop
from storage.states import DropStatus

log = logging.getLogger("dropbell.drops")

STATUS_COLOURS = {
    DropStatus.SCHEDULED: discord.Colour.blurple(),
    DropStatus.LIVE: discord.Colour.green(),
    DropStatus.CLOSED: discord.Colour.dark_grey(),
    DropStatus.CANCELLED: discord.Colour.red(),
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
    suffix = {DropStatus.SCHEDULED: "", DropStatus.LIVE: " (open now)"}.get(
        drop.status, f" ({drop.status})"
    )
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
    if drop.status == DropStatus.CANCELLED:
        embed.add_field(name="Cancelled", value="This drop was cancelled.", inline=False)
    if drop.image_url:
        embed.set_image(url=drop.image_url)
    embed.set_footer(
        text=f"dropbell · drop {drop.id} · {format_local(drop.starts_at, drop.timezone)}"
    )
    return embed


def render_view(drop: Drop) -> discord.ui.View:
    buttons = (JoinButton(drop_id=drop.id), RemindButton(drop_id=drop.id))
    return view_of(*buttons, disabled=not drop.is_open)


class AnnouncementRefresher:
    """Coalesces waitlist-count edits: at most one edit per drop every ``interval`` seconds."""

    def __init__(self, bot: commands.Bot, service: DropService, interval: float = 3.0) -> None:
        self.bot = bot
        self.service = service
        self.interval = interval
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    def mark(self, drop_id: int) -> None:
        self._dirty.add(drop_id)
        self._wake.set()

    async def _drop_changed(self, drop_id: int) -> None:
        self.mark(drop_id)

    def start(self) -> None:
        # The post follows whoever changed the drop or its line (a join, an edit, the opening).
        events = self.service.events
        self._unsubscribe = [
            events.on_drop_changed(self._drop_changed),
            events.on_waitlist_changed(self.mark),
        ]
        self._task = asyncio.create_task(self._run(), name="dropbell-announcement-refresher")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
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
        metrics.ANNOUNCEMENT_EDITS.inc()


async def post_announcement(
    channel: discord.abc.Messageable, drop: Drop, ping_role: discord.Role | None
) -> discord.Message:
    kwargs: dict[str, Any] = {"embed": render_embed(drop, 0), "view": render_view(drop)}
    if ping_role is not None:
        # One role mention in one post reaches everyone who wants it; never mass DMs.
        kwargs["content"] = ping_role.mention
        kwargs["allowed_mentions"] = discord.AllowedMentions(roles=[ping_role])
    return await channel.send(**kwargs)
