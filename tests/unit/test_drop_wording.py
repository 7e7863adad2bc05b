"""Drop sentences as pure rules: labels not internal names, plurals, state-true wording."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.drops.rules import (
    ALLOCATIONS,
    Member,
    check_bounds,
    unmet_requirement,
    validate_changes,
)
from services.drops.wording import opening_phrase, reminder_on_sentence, reminders_to_come
from services.errors import UserError
from storage.drops import Drop
from storage.states import Allocation, DropStatus

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
HOUR, AT_OPENING = timedelta(hours=1), timedelta(0)


def a_drop(**changes: object) -> Drop:
    drop = Drop(
        id=1, guild_id=2, name="Night Moth Tee", description=None, image_url=None,
        starts_at=NOW + timedelta(days=2), timezone="Europe/Berlin", stock=10, remaining=10,
        allocation=Allocation.WAITLIST_ORDER, early_access_minutes=0, product=None,
        required_role_id=None, min_account_age_days=0, min_member_days=0, channel_id=None,
        message_id=None, ping_role_id=None, event_id=None, status=DropStatus.SCHEDULED,
        created_by=3,
    )  # fmt: skip
    return dataclasses.replace(drop, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "label"),
    [
        ("min_account_age_days", "minimum account age"),
        ("min_member_days", "minimum days in this server"),
        ("early_access_minutes", "early access"),
    ],
)
def test_errors_speak_the_label_not_the_option_name(option: str, label: str) -> None:
    for value in (-1, 10**6):
        with pytest.raises(UserError) as refused:
            check_bounds({option: value})
        assert label in str(refused.value) and option not in str(refused.value)


def test_one_day_is_singular_in_requirements() -> None:
    young = Member(frozenset(), account_created_at=NOW, joined_server_at=NOW)
    sentence = unmet_requirement(a_drop(min_account_age_days=1), young, NOW)
    assert sentence is not None and "at least 1 day old" in sentence
    sentence = unmet_requirement(a_drop(min_member_days=1), young, NOW)
    assert sentence is not None and "needs 1 day in this server" in sentence


def test_a_live_drops_time_cannot_be_edited() -> None:
    live = a_drop(status=DropStatus.LIVE, starts_at=NOW - HOUR)
    for change in ({"starts_at": NOW + HOUR}, {"timezone": "UTC"}):
        with pytest.raises(UserError, match=r"already opened .* can.t change any more"):
            validate_changes(live, change, NOW)
    assert validate_changes(live, {"stock": 20}, NOW)["stock"] == 20


def test_opening_phrase_follows_the_status() -> None:
    assert opening_phrase(a_drop()).startswith("opens <t:")
    assert opening_phrase(a_drop(status=DropStatus.LIVE)).startswith("opened <t:")


def test_reminder_sentence_says_what_is_past_and_what_will_come() -> None:
    soon = a_drop(starts_at=NOW + timedelta(minutes=30))
    assert reminders_to_come(soon, [HOUR, AT_OPENING], NOW) == [AT_OPENING]
    sentence = reminder_on_sentence(soon, [HOUR, AT_OPENING], NOW, on_waitlist=True)
    assert "I'll DM you when it opens." in sentence
    assert "The reminder 1 hour before it opens is already past." in sentence
    assert "not a place" not in sentence
    later = reminder_on_sentence(a_drop(), [HOUR, AT_OPENING], NOW, on_waitlist=False)
    assert "I'll DM you 1 hour before it opens and when it opens." in later
    assert "already past" not in later and "not a place on the waitlist" in later
    assert reminders_to_come(a_drop(status=DropStatus.LIVE), [HOUR, AT_OPENING], NOW) == []


def test_allocations_promise_nothing_unbuilt() -> None:
    # The raffle's commit-reveal and collector tiers are built; the text says how they work.
    assert "seed" in ALLOCATIONS[Allocation.RAFFLE].lower()
    assert "collector tier's role" in ALLOCATIONS[Allocation.COLLECTORS_FIRST]
    assert "until collector tiers" not in ALLOCATIONS[Allocation.COLLECTORS_FIRST]
    texts = " ".join(ALLOCATIONS.values()).lower()
    assert "head start" not in texts
