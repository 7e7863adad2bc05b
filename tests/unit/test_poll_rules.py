"""Parsing `Name @ price; …` and the poll's other rules; wording of the tally."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import UserError
from services.polls.rules import OptionSpec, parse_options, parse_price, validate
from services.polls.wording import progress_bar

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_options_with_and_without_prices() -> None:
    assert parse_options(" Moth Tee @ 35 ;Moth  Hoodie@60.5; Cap;", "EUR") == (
        OptionSpec("Moth Tee", 3500),
        OptionSpec("Moth Hoodie", 6050),
        OptionSpec("Cap", None),
    )
    assert parse_options("A @ 12,99; B @ EUR 3", "EUR") == (
        OptionSpec("A", 1299),
        OptionSpec("B", 300),
    )


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("A", "A poll needs 2 to 10 options"),
        ("", "A poll needs 2 to 10 options"),
        (";".join("abcdefghijk"), "A poll needs 2 to 10 options"),
        ("A; ; B", "Option 2 has no name"),
        ("A; " + "n" * 56, "The option name"),
        ("Tee; TEE", "**TEE** is listed twice"),
        ("Tee @; Cap", "'' is not a price for **Tee**"),
        ("Tee @ 1.999; Cap", "'1.999' is not a price"),
        ("Tee @ 0.00; Cap", "'0.00' is not a price"),
        ("Tee @ 1e3; Cap", "'1e3' is not a price"),
    ],
)
def test_each_refusal_is_one_sentence(text: str, start: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_options(text, "EUR")
    assert refused.value.sentence.startswith(start)
    assert "\n" not in refused.value.sentence


def test_name_of_exactly_55_is_allowed() -> None:
    assert parse_options("A; " + "n" * 55, "EUR")[1].name == "n" * 55


@given(st.integers(min_value=1, max_value=99_999_999))
def test_prices_round_trip_in_cents(cents: int) -> None:
    assert parse_price(f"{cents // 100}.{cents % 100:02d}", "X", "EUR") == cents


def test_goal_and_closing_time() -> None:
    with pytest.raises(UserError, match="at least 1, not 0"):
        validate("Q?", "A; B", 0, "2027-01-01 10:00", "Europe/Berlin", NOW, "EUR")
    # PostgreSQL's Integer column ends at 2^31 - 1: a goal past the cap is one sentence.
    with pytest.raises(UserError, match="at most 1,000,000 units; you gave 2,147,483,648"):
        validate("Q?", "A; B", 2**31, "2027-01-01 10:00", "Europe/Berlin", NOW, "EUR")
    with pytest.raises(UserError, match="at most 1,000,000 units; you gave 1,000,001"):
        validate("Q?", "A; B", 1_000_001, "2027-01-01 10:00", "Europe/Berlin", NOW, "EUR")
    assert validate("Q?", "A; B", 1_000_000, "2027-01-01 10:00", "Europe/Berlin", NOW, "EUR")
    with pytest.raises(UserError, match="already past"):
        validate("Q?", "A; B", 5, "2026-11-27 12:59", "Europe/Berlin", NOW, "EUR")
    with pytest.raises(UserError, match="does not exist"):
        validate("Q?", "A; B", 5, "2027-03-28 02:30", "Europe/Berlin", NOW, "EUR")
    with pytest.raises(UserError, match="happens twice"):
        validate("Q?", "A; B", 5, "2027-10-31 02:30", "Europe/Berlin", NOW, "EUR")
    spec = validate("  Q?  ", "A; B", 5, "2026-11-27 14:00", "Europe/Berlin", NOW, "EUR")
    assert spec.question == "Q?" and spec.closes_at == datetime(2026, 11, 27, 13, tzinfo=UTC)


def test_progress_bar() -> None:
    assert progress_bar(0, 10) == "▱▱▱▱▱▱▱▱▱▱ 0%"
    assert progress_bar(3, 10) == "▰▰▰▱▱▱▱▱▱▱ 30%"
    assert progress_bar(25, 10) == "▰▰▰▰▰▰▰▰▰▰ 250%"
