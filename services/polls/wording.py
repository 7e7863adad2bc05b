"""What polls say: the tally lines, the fan's commitments, the goal and the results."""

from __future__ import annotations

from services.localtime import discord_timestamp
from services.polls.rules import price_text
from services.text import fit_lines, plural
from storage.poll_commits import Committed
from storage.polls import Poll, PollOption

BAR_CELLS = 10


def progress_bar(units: int, goal: int) -> str:
    """``▰▰▰▱▱▱▱▱▱▱ 30%`` of the goal (full past it)."""
    share = units / goal if goal > 0 else 0.0
    filled = min(BAR_CELLS, int(share * BAR_CELLS))
    return "▰" * filled + "▱" * (BAR_CELLS - filled) + f" {int(share * 100)}%"


def option_label(option: PollOption, currency: str) -> str:
    price = price_text(option.price_cents, currency)
    return f"{option.name} · {price}" if price else option.name


def total_units(options: tuple[PollOption, ...] | list[PollOption]) -> int:
    return sum(option.units for option in options)


def goal_text(poll: Poll, units: int) -> str:
    return (
        f"🎯 The pre-order poll **{poll.question}** reached its goal: {units:,} units committed "
        f"(goal {poll.goal:,}). It stays open until {discord_timestamp(poll.closes_at, 'F')}."
    )


def mine_text(options: tuple[PollOption, ...], mine: tuple[tuple[int, int], ...]) -> str:
    if not mine:
        return "You have no commitments in this poll."
    names = {option.idx: option.name for option in options}
    parts = [f"{quantity} × {names.get(idx, '?')}" for idx, quantity in mine]
    return "Your commitments in this poll: " + ", ".join(parts) + "."


def committed_sentence(committed: Committed, currency: str) -> str:
    option = next(o for o in committed.options if o.idx == committed.option_idx)
    if committed.quantity == 0:
        head = f"You withdrew your {committed.previous} × **{option.name}**."
    elif committed.previous:
        head = (
            f"Changed: **{committed.quantity} × {option.name}** "
            f"(was {committed.previous}). Pressing another number changes it again."
        )
    else:
        head = (
            f"Committed: **{committed.quantity} × {option.name}**. Pressing another number "
            "changes it."
        )
    return f"{head}\n{mine_text(committed.options, committed.mine)}"


def option_prompt(
    poll: Poll, option: PollOption, mine: dict[int, int], options: list[PollOption], currency: str
) -> str:
    price = price_text(option.price_cents, currency)
    at = f" at {price}" if price else ""
    current = mine.get(option.idx)
    now = (
        f"You have {current} now; press another number to change it or Withdraw."
        if current
        else "How many would you buy? A number commits at once."
    )
    return (
        f"**{option.name}**{at} — {poll.question}\n{now}\n"
        f"{mine_text(tuple(options), tuple(sorted(mine.items())))}"
    )


def closed_sentence(poll: Poll) -> str:
    when = discord_timestamp(poll.closed_at or poll.closes_at, "R")
    return (
        f"The poll **{poll.question}** closed {when}; it takes no more commitments, and yours "
        "stay as they were."
    )


def results_lines(poll: Poll, options: list[PollOption], currency: str) -> list[str]:
    lines = []
    for option in sorted(options, key=lambda o: (-o.units, o.idx)):
        value = (
            f" · {price_text(option.units * option.price_cents, currency)}"
            if option.price_cents
            else ""
        )
        lines.append(
            f"**{option.name}**: {plural(option.units, 'unit')} from {plural(option.fans, 'fan')}"
            f"{value}"
        )
    return lines


def results_text(poll: Poll, options: list[PollOption], currency: str, marker: str = "") -> str:
    units = total_units(options)
    reached = "goal reached 🎯" if units >= poll.goal else "goal not reached"
    head = (
        f"📊 **{poll.question}** — closed. {units:,} of {poll.goal:,} units committed ({reached})."
    )
    return fit_lines(results_lines(poll, options, currency), head=head, tail=marker, limit=1950)


def winner(options: list[PollOption]) -> PollOption:
    """The option with the most units (the first listed wins a tie)."""
    return max(options, key=lambda option: (option.units, -option.idx))
