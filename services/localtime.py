"""Wall-clock times in IANA zones, converted once to UTC, with daylight-saving traps refused.

Managers type a local time ("2026-12-05 18:00") and a zone ("Europe/Berlin"). A local time that
does not exist (skipped by a spring-forward) or exists twice (a fall-back) is refused with the
nearest valid times, rather than silently moved by an hour.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta

from services.errors import UserError

LOCAL_FORMAT = "%Y-%m-%d %H:%M"
_LOCAL_PATTERN = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})\s*")
_SEARCH_LIMIT_MINUTES = 24 * 60
POPULAR_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
)


@functools.cache
def zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called ``name``; a UserError if there is none."""
    cleaned = name.strip()
    if cleaned not in zone_names():
        raise UserError(
            f"{name!r} is not a time zone I know; pick an IANA name such as Europe/Berlin "
            "or America/New_York from the list."
        )
    return zoneinfo.ZoneInfo(cleaned)


def suggest_zones(typed: str, limit: int = 25) -> list[str]:
    """Zone names for autocomplete: those starting with what was typed first, then containing."""
    needle = typed.strip().lower().replace(" ", "_")
    if not needle:
        return list(POPULAR_ZONES)
    starts = [name for name in zone_names() if name.lower().startswith(needle)]
    contains = [name for name in zone_names() if needle in name.lower() and name not in starts]
    return (starts + contains)[:limit]


def parse_wall_clock(text: str) -> datetime:
    """A naive datetime from ``YYYY-MM-DD HH:MM`` (24 h); a UserError otherwise."""
    match = _LOCAL_PATTERN.fullmatch(text)
    if match is None:
        raise UserError(
            f"{text!r} is not a time I can read; write it as YYYY-MM-DD HH:MM in 24-hour time, "
            "for example 2026-12-05 18:00."
        )
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        raise UserError(
            f"{text!r} is not a real date and time; check the day, month and hour."
        ) from None


def _occurrences(naive: datetime, tz: zoneinfo.ZoneInfo) -> int:
    """How often this wall-clock time happens in ``tz``: 0 (in a gap), 1, or 2 (in an overlap)."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return 1
    # In a gap, converting to UTC and back does not give the same wall-clock time.
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return 2 if back == naive else 0


def _nearest_valid(naive: datetime, tz: zoneinfo.ZoneInfo, step: timedelta) -> datetime:
    candidate = naive
    for _ in range(_SEARCH_LIMIT_MINUTES):
        candidate += step
        if _occurrences(candidate, tz) == 1:
            return candidate
    raise AssertionError(f"no unambiguous time within a day of {naive} in {tz}")


def to_utc(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """Convert a wall-clock time in ``tz`` to UTC, refusing gap and overlap times."""
    occurrences = _occurrences(naive, tz)
    if occurrences != 1:
        before = _nearest_valid(naive, tz, timedelta(minutes=-1)).strftime("%H:%M")
        after = _nearest_valid(naive, tz, timedelta(minutes=1)).strftime("%H:%M")
        day, when = naive.strftime("%Y-%m-%d"), naive.strftime("%H:%M")
        problem = (
            "does not exist (the clocks skip it for daylight saving)"
            if occurrences == 0
            else "happens twice (the clocks go back for daylight saving)"
        )
        raise UserError(f"{when} on {day} {problem} in {tz.key}; use {before} or {after} instead.")
    return naive.replace(tzinfo=tz).astimezone(UTC)


def parse_local(text: str, zone_name: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` in the named zone, as an aware UTC datetime."""
    tz = zone(zone_name)
    return to_utc(parse_wall_clock(text), tz)


def utcnow() -> datetime:
    return datetime.now(UTC)


def discord_timestamp(moment: datetime, style: str = "F") -> str:
    """``<t:UNIX:F>``: Discord renders it in each viewer's own zone, and ``R`` counts down."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def format_local(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone_name))
    return f"{local.strftime(LOCAL_FORMAT)} {zone_name}"
