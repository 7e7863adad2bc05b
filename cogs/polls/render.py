"""How a poll looks: its post (kept fresh by a coalesced refresher) and a fan's option panel."""

from __future__ import annotations

import functools
from typing import Any

import discord

from bot.ui import PersistentButton, view_of
from cogs._post_refresher import Rendered
from services.localtime import discord_timestamp, format_local
from services.polls.rules import QUANTITIES
from services.polls.wording import option_label, progress_bar, total_units
from storage.polls import Poll, PollOption


def render_embed(poll: Poll, options: list[PollOption], currency: str) -> discord.Embed:
    units = total_units(options)
    if poll.is_open:
        closes = poll.closes_at
        closing = f"Closes {discord_timestamp(closes, 'R')} ({discord_timestamp(closes, 'F')})"
    else:
        closing = f"Closed {discord_timestamp(poll.closed_at or poll.closes_at, 'R')}"
    description = (
        f"Pre-order poll: press an option, then how many you would buy.\n"
        f"**Goal:** {poll.goal:,} units · {closing}"
    )
    embed = discord.Embed(
        title=poll.question[:256],
        description=description,
        colour=discord.Colour.gold() if poll.is_open else discord.Colour.dark_grey(),
    )
    for option in options:
        embed.add_field(
            name=option_label(option, currency),
            value=f"{option.units:,} units · {progress_bar(option.units, poll.goal)}",
            inline=False,
        )
    reached = " 🎯 goal reached" if units >= poll.goal else ""
    embed.add_field(
        name="Total",
        value=f"{units:,} of {poll.goal:,} units · {progress_bar(units, poll.goal)}{reached}",
        inline=False,
    )
    embed.set_footer(
        text=f"dropbell · poll {poll.id} · {format_local(poll.closes_at, poll.timezone)}"
    )
    return embed


def render_view(poll: Poll, options: list[PollOption], currency: str) -> discord.ui.View:
    from cogs.polls.buttons import OptionButton  # the buttons answer with these renderers

    buttons: list[Any] = [
        OptionButton(poll_id=poll.id, option_idx=option.idx, label=option_label(option, currency))
        for option in options
    ]
    return view_of(*buttons, disabled=not poll.is_open)


def rendered(poll: Poll, options: list[PollOption], currency: str) -> Rendered | None:
    if poll.message_id is None:
        return None
    return Rendered(
        poll.channel_id,
        poll.message_id,
        render_embed(poll, options, currency),
        render_view(poll, options, currency),
        urgent=not poll.is_open,
    )


@functools.lru_cache(maxsize=4096)
def panel_view(poll_id: int, option_idx: int, current: int | None) -> discord.ui.View:
    """Quantity buttons 1-5 (the fan's current one highlighted) and Withdraw.

    Built once per (poll, option, current quantity) and stopped: its buttons are dynamic items
    found by custom_id, so the view need not be kept per message (discord.py would otherwise
    store every ephemeral panel with a 15-minute timer), and building six buttons per press was
    the press's largest cost in the poll_burst profile."""
    from cogs.polls.buttons import CommitButton, WithdrawButton

    items: list[PersistentButton] = [
        CommitButton(
            poll_id=poll_id, option_idx=option_idx, quantity=quantity, current=current == quantity
        )
        for quantity in QUANTITIES
    ]
    withdraw = WithdrawButton(poll_id=poll_id, option_idx=option_idx)
    if not current:
        withdraw.item.disabled = True  # nothing to withdraw
    items.append(withdraw)
    view = view_of(*items)
    view.stop()
    return view
