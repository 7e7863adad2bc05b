"""The drop announcement: how it looks (kept fresh by :mod:`cogs.drops.refresher`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import discord

from bot.ui import view_of
from cogs.drops.buttons import ClaimButton, JoinButton, RemindButton
from services.drops.rules import ALLOCATIONS
from services.localtime import discord_timestamp, format_local
from services.text import plural
from storage.drops import Drop
from storage.states import Allocation, DropStatus

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
        parts.append(f"a Discord account at least {plural(drop.min_account_age_days, 'day')} old")
    if drop.min_member_days:
        parts.append(f"at least {plural(drop.min_member_days, 'day')} in this server")
    return "To join you need " + ", ".join(parts) + "." if parts else None


def early_access_text(drop: Drop) -> str:
    """Who may claim in the early window, and until when (a raffle has no early window)."""
    ends = drop.starts_at + timedelta(minutes=drop.early_access_minutes)
    who = (
        "collectors, then fans on the waitlist by place"
        if drop.allocation == Allocation.COLLECTORS_FIRST
        else "fans on the waitlist, in waves by place"
    )
    return (
        f"The first {plural(drop.early_access_minutes, 'minute')} after opening (until "
        f"{discord_timestamp(ends, 't')}): {who}; then anyone in the server."
    )


def render_embed(drop: Drop, waitlist_count: int, *, with_image: bool = True) -> discord.Embed:
    """The announcement's embed; its image is the upload carried by the post itself, so only
    the post can show it (``with_image=False`` elsewhere)."""
    suffix = {DropStatus.SCHEDULED: "", DropStatus.LIVE: " (open now)"}.get(
        drop.status, f" ({drop.status})"
    )
    title = drop.name + suffix
    embed = discord.Embed(
        title=title, description=drop.description or None, colour=STATUS_COLOURS[drop.status]
    )
    embed.add_field(
        name="Opens" if drop.status == DropStatus.SCHEDULED else "Opened",
        value=f"{discord_timestamp(drop.starts_at)} ({discord_timestamp(drop.starts_at, 'R')})",
        inline=False,
    )
    stock = f"{drop.stock:,}" if drop.remaining == drop.stock else f"{drop.remaining:,} left"
    embed.add_field(name="Stock", value=stock, inline=True)
    embed.add_field(name="Waitlist", value=f"{waitlist_count:,} waiting", inline=True)
    embed.add_field(name="How links are given", value=ALLOCATIONS[drop.allocation], inline=False)
    if drop.allocation == Allocation.RAFFLE and drop.raffle_commitment:
        # Commit-reveal: the seed's hash from the start, the seed itself once drawn.
        fair = f"commitment: `{drop.raffle_commitment}`"
        if drop.drawn_at is not None and drop.raffle_seed:
            fair += f"\nseed: `{drop.raffle_seed}`"
        embed.add_field(name="Raffle", value=fair, inline=False)
    if drop.early_access_minutes and drop.allocation != Allocation.RAFFLE:
        embed.add_field(name="Early access", value=early_access_text(drop), inline=False)
    requirements = requirements_text(drop)
    if requirements:
        embed.add_field(name="Who can join", value=requirements, inline=False)
    if drop.status == DropStatus.CANCELLED:
        embed.add_field(name="Cancelled", value="This drop was cancelled.", inline=False)
    if drop.image_url and with_image:
        embed.set_image(url=drop.image_url)
    embed.set_footer(
        text=f"dropbell · drop {drop.id} · {format_local(drop.starts_at, drop.timezone)}"
    )
    return embed


def render_view(drop: Drop) -> discord.ui.View:
    buttons: list[Any] = [JoinButton(drop_id=drop.id), RemindButton(drop_id=drop.id)]
    if drop.status == DropStatus.LIVE and drop.product:
        # Drop day: the announcement carries Get my link too (the opening post has it first).
        buttons.insert(0, ClaimButton(drop_id=drop.id))
    return view_of(*buttons, disabled=not drop.is_open)


def claim_view(drop: Drop) -> discord.ui.View:
    """The opening post's one button."""
    return view_of(ClaimButton(drop_id=drop.id), disabled=drop.status != DropStatus.LIVE)


async def post_announcement(
    channel: discord.abc.Messageable,
    drop: Drop,
    ping_role: discord.Role | None,
    image: discord.File | None = None,
) -> discord.Message:
    # A drop made from a poll has its committed fans on the line before its post exists.
    kwargs: dict[str, Any] = {
        "embed": render_embed(drop, drop.waitlist_size),
        "view": render_view(drop),
    }
    if image is not None:
        # Uploaded with the post: an option attachment's URL expires, an upload stays.
        kwargs["file"] = image
    if ping_role is not None:
        # One role mention in one post reaches everyone who wants it; never mass DMs.
        kwargs["content"] = ping_role.mention
        kwargs["allowed_mentions"] = discord.AllowedMentions(roles=[ping_role])
    return await channel.send(**kwargs)
