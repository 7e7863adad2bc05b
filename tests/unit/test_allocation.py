"""The allocation rules on their own: waves by place, the raffle's window, who is refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.drops.allocation import (
    NotYourTurn,
    RaffleLost,
    commitment_of,
    decide_claim,
    draw_order,
    new_seed,
    waves_for,
)
from services.drops.rules import Member
from services.errors import UserError
from storage.claims import ClaimRequest, FanStanding
from storage.drops import Drop
from storage.states import Allocation, DropStatus
from tests.unit.test_drop_wording import a_drop

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FAN = Member(frozenset(), NOW - timedelta(days=400), NOW - timedelta(days=100))


def request(user_id: int = 7) -> ClaimRequest:
    return ClaimRequest(2, 1, user_id, "fan", FAN)


def live(**changes: object) -> Drop:
    changes.setdefault("product", "sandbox:price_x")
    return a_drop(status=DropStatus.LIVE, starts_at=NOW, **changes)


def test_the_seed_and_its_commitment() -> None:
    seed = new_seed()
    assert len(seed) == 64 and int(seed, 16) >= 0 and seed == seed.lower()
    assert commitment_of(seed) == hashlib.sha256(seed.encode()).hexdigest()
    assert new_seed() != seed


@given(st.lists(st.integers(1, 2**63), unique=True, max_size=50), st.text("0123456789abcdef"))
def test_draw_order_is_the_published_rule(users: list[int], seed: str) -> None:
    expected = sorted(users, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())
    assert draw_order(seed, users) == expected
    assert draw_order(seed, list(reversed(users))) == expected  # whatever order they joined


def test_waves_let_the_line_in_by_place_within_the_early_window() -> None:
    drop = live(stock=2, early_access_minutes=60, waitlist_size=6)
    waves = waves_for(drop, 6)
    assert (waves.size, waves.every) == (2, timedelta(minutes=20))
    assert waves.opens_at(NOW, 1, after_collectors=False) == NOW
    assert waves.opens_at(NOW, 2, after_collectors=False) == NOW
    assert waves.opens_at(NOW, 3, after_collectors=False) == NOW + timedelta(minutes=20)
    assert waves.opens_at(NOW, 6, after_collectors=False) == NOW + timedelta(minutes=40)


def test_who_may_claim_when() -> None:
    decide = decide_claim(lambda _request: False)
    drop = live(stock=2, early_access_minutes=60, waitlist_size=6)
    assert decide(drop, request(), FanStanding(place=1, draw_rank=None), NOW) is None
    later = decide(drop, request(), FanStanding(place=5, draw_rank=None), NOW)
    assert isinstance(later, NotYourTurn)
    assert later.opens_at == NOW + timedelta(minutes=40)
    outsider = decide(drop, request(), FanStanding(place=None, draw_rank=None), NOW)
    assert isinstance(outsider, UserError) and "first 60 minutes" in str(outsider)
    after = NOW + timedelta(minutes=60)
    assert decide(drop, request(), FanStanding(place=None, draw_rank=None), after) is None


def test_collectors_first_goes_before_the_first_wave() -> None:
    drop = live(
        stock=2, early_access_minutes=30, waitlist_size=2, allocation=Allocation.COLLECTORS_FIRST
    )
    collectors = decide_claim(lambda _request: True)
    others = decide_claim(lambda _request: False)
    standing = FanStanding(place=1, draw_rank=None)
    assert collectors(drop, request(), FanStanding(None, None), NOW) is None
    waiting = others(drop, request(), standing, NOW)
    assert isinstance(waiting, NotYourTurn) and waiting.opens_at == NOW + timedelta(minutes=15)


def test_raffle_window_and_kind_refusals() -> None:
    decide = decide_claim(lambda _request: False)
    drop = live(stock=2, allocation=Allocation.RAFFLE, claim_window=2)
    assert decide(drop, request(), FanStanding(place=4, draw_rank=2), NOW) is None
    lost = decide(drop, request(), FanStanding(place=1, draw_rank=5), NOW)
    assert isinstance(lost, RaffleLost) and "reserve #3" in str(lost)
    assert "thank you" in str(lost)
    late = decide(drop, request(), FanStanding(place=None, draw_rank=None), NOW)
    assert isinstance(late, UserError) and "not on it then" in str(late)


def test_refusals_before_opening_and_without_checkout() -> None:
    decide = decide_claim(lambda _request: False)
    standing = FanStanding(place=1, draw_rank=None)
    scheduled = a_drop(product="sandbox:x", starts_at=NOW + timedelta(hours=1))
    assert "not open yet" in str(decide(scheduled, request(), standing, NOW))
    no_checkout = live(product=None)
    assert "no checkout" in str(decide(no_checkout, request(), standing, NOW))
    assert decide(None, request(), standing, NOW) is not None
