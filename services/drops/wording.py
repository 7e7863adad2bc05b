"""What fans are told about a drop, worded from the drop's state: pure functions, no Discord.

A sentence written once for a scheduled drop reads false after the drop opens ("opens 5 minutes
ago") or for a raffle ("#1 of 1" is no queue), so each one here looks at the state first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.localtime import discord_timestamp
from services.text import and_list, duration_text, plural
from storage.drops import Drop
from storage.joins import Joined
from storage.states import Allocation, DropStatus


def opening_phrase(drop: Drop) -> str:
    """ "opens <t:…:R>" before the opening, "opened <t:…:R>" after it."""
    verb = "opens" if drop.status == DropStatus.SCHEDULED else "opened"
    return f"{verb} {discord_timestamp(drop.starts_at, 'R')}"


def place_phrase(drop: Drop, place: int, total: int) -> str:
    """A fan's standing: a place in line, or for a raffle an entry in the draw (places there
    decide nothing, so showing one would mislead)."""
    if drop.allocation == Allocation.RAFFLE:
        return f"in the draw ({plural(total, 'entry', 'entries')})"
    return f"#{place} of {total:,}"


def place_sentence(joined: Joined) -> str:
    drop = joined.drop
    standing = place_phrase(drop, joined.place, joined.total)
    where = f"{standing} for **{drop.name}** — {opening_phrase(drop)}."
    if joined.already:
        return f"You're already on the list: {where}"
    return f"You're {where}"


def _offset_phrase(offset: timedelta) -> str:
    seconds = round(offset.total_seconds())
    return "when it opens" if seconds <= 0 else f"{duration_text(seconds)} before it opens"


def reminders_to_come(drop: Drop, offsets: Sequence[timedelta], now: datetime) -> list[timedelta]:
    """The reminder DMs a fan opting in now would still get (the others are past)."""
    if drop.status != DropStatus.SCHEDULED:
        return []
    return sorted((o for o in offsets if drop.starts_at - o > now), reverse=True)


def nothing_to_remind(drop: Drop) -> str:
    return (
        f"**{drop.name}** {opening_phrase(drop)}, so its reminder DMs are past and I won't "
        "send you any; /waitlist status shows where you stand."
    )


def reminder_on_sentence(
    drop: Drop, offsets: Sequence[timedelta], now: datetime, *, on_waitlist: bool
) -> str:
    """What turning reminders on will send, what it will not (already past), and that a
    reminder is not a place on the waitlist."""
    coming = reminders_to_come(drop, offsets, now)
    past = sorted(set(offsets) - set(coming), reverse=True)
    parts = [
        f"Reminders are **on** for **{drop.name}**: I'll DM you "
        f"{and_list([_offset_phrase(offset) for offset in coming])}."
    ]
    if past:
        noun, verb = ("reminder", "is") if len(past) == 1 else ("reminders", "are")
        phrases = and_list([_offset_phrase(o) for o in past])
        parts.append(f"The {noun} {phrases} {verb} already past.")
    if not on_waitlist:
        parts.append(
            "This is not a place on the waitlist: press Join waitlist (or use /waitlist join) "
            "to get in line."
        )
    parts.append("Press Remind me again to turn them off.")
    return " ".join(parts)


def raffle_phrase(drop: Drop, rank: int | None) -> str:
    """A fan's raffle result, kindly, as /waitlist status tells it."""
    if rank is None:
        return "drawn; you joined after the draw, so you were not in it"
    if rank <= drop.claim_window:
        return "🎉 you won the raffle — press **Get my link** on the drop's post"
    return (
        f"not drawn this time — thank you for entering; you are reserve #{rank - drop.stock}, "
        "and a winner's unpaid unit passes to the reserves in draw order"
    )
