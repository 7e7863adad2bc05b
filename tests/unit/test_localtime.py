"""Wall-clock conversion properties, over many zones and instants (hypothesis)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UserError
from services.localtime import parse_local, parse_wall_clock, suggest_zones, to_utc

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Asia/Kolkata",  # no daylight saving at all
    "America/Santiago",
    "UTC",
]
wall_clocks = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    naive=wall_clocks.map(lambda d: d.replace(second=0, microsecond=0)), name=st.sampled_from(ZONES)
)
def test_a_wall_clock_converts_back_or_is_refused_with_valid_alternatives(
    naive: datetime, name: str
) -> None:
    tz = zoneinfo.ZoneInfo(name)
    try:
        moment = to_utc(naive, tz)
    except UserError as refusal:
        assert "does not exist" in refusal.sentence or "happens twice" in refusal.sentence
        before, after = re.findall(r"use (\d\d:\d\d) or (\d\d:\d\d)", refusal.sentence)[0]
        for suggestion in (before, after):
            hour, minute = map(int, suggestion.split(":"))
            # The suggestions lie within a day of the refused time and are themselves accepted.
            for day_shift in (-1, 0, 1):
                candidate = (naive + timedelta(days=day_shift)).replace(hour=hour, minute=minute)
                if abs(candidate - naive) <= timedelta(hours=3):
                    to_utc(candidate, tz)
                    break
            else:
                pytest.fail(f"{suggestion} is not near {naive}")
    else:
        assert moment.tzinfo is UTC
        assert moment.astimezone(tz).replace(tzinfo=None) == naive


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2039, 1, 1)))
def test_utc_zone_is_the_identity(moment: datetime) -> None:
    naive = moment.replace(second=0, microsecond=0)
    assert to_utc(naive, zoneinfo.ZoneInfo("UTC")) == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-02-30 10:00", "not a real date"),
        ("2026-12-05 25:00", "not a real date"),
        ("05.12.2026 18:00", "YYYY-MM-DD HH:MM"),
        ("", "YYYY-MM-DD HH:MM"),
    ],
)
def test_unreadable_times_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        parse_wall_clock(text)


def test_zone_names_are_checked_and_suggested() -> None:
    with pytest.raises(UserError, match="not a time zone I know"):
        parse_local("2030-01-01 10:00", "Europe/Atlantis")
    assert suggest_zones("berlin")[0] == "Europe/Berlin"
    assert len(suggest_zones("")) <= 25 and "UTC" in suggest_zones("")
