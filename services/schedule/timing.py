"""Repeats keep their local wall-clock time: "every Friday 18:00 Europe/Berlin" stays 18:00 in
Berlin across daylight-saving changes, so each occurrence is converted from the wall clock in
its zone, never by adding 168 hours to a UTC instant."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from services.localtime import LOCAL_FORMAT, parse_wall_clock

REPEAT_STEPS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def lenient_utc(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """A wall-clock time to UTC without refusing: for a repeat nobody is there to ask.

    With ``fold=0`` zoneinfo uses the offset from before a change, so a time skipped by a
    spring-forward lands just after the gap (02:30 becomes 03:30), and a time that happens twice
    at a fall-back is taken the first time. A manager typing a time is refused instead
    (``bot.localtime.to_utc``); only later occurrences of a repeat come through here.
    """
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_occurrence(
    wall_clock: str, zone_name: str, repeat: str, after: datetime
) -> tuple[str, datetime]:
    """The first occurrence after ``after`` of a repeat last due at ``wall_clock`` local time.

    Returns the new wall-clock text and its UTC instant. Occurrences that fell while the bot
    was down are skipped, not posted in a burst.
    """
    step = REPEAT_STEPS[repeat]
    tz = zoneinfo.ZoneInfo(zone_name)
    naive = parse_wall_clock(wall_clock)
    while True:
        naive += step
        due = lenient_utc(naive, tz)
        if due > after:
            return naive.strftime(LOCAL_FORMAT), due
