"""Who may claim a unit, and when: the allocation stated on every drop announcement.

- ``waitlist-order``: for the first ``early_access_minutes`` only waitlisted fans claim, let in
  by place in waves; then anyone in the server. A wave is as many places as there are units,
  and the waves are spread evenly over the early window (the last wave is let in before it
  ends), so the first fans in line get the first chance and everyone on the list gets one.
- ``collectors-first``: members holding a collector tier's role are let in at opening, before
  the first wave; then as ``waitlist-order``.
- ``raffle``: commit-reveal. The seed (32 random bytes, 64 lowercase hex characters) is drawn
  when the drop is created and only its sha256 is shown; at opening the seed is published and
  every entry ranked by ``sha256("<seed>:<user_id>")``; the first ``stock`` ranks may claim.
  Every ``hold`` after the draw, the units still free pass to the next ranks in draw order.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.drops.rules import Member, unmet_requirement
from services.errors import UserError
from services.localtime import discord_timestamp
from services.text import plural
from storage.claims import ClaimRequest, FanStanding
from storage.drops import Drop
from storage.states import Allocation, DropStatus

NO_SUCH_DROP = "I can't find that drop in this server; pick one from the list."


def new_seed() -> str:
    return secrets.token_hex(32)


def commitment_of(seed: str) -> str:
    """The sha256 of the seed's 64-character text, as shown before the draw."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def draw_order(seed: str, user_ids: Iterable[int]) -> list[int]:
    """Everyone in draw order: ``sha256("<seed>:<user_id>")`` as lowercase hex, ascending."""
    return sorted(user_ids, key=lambda user: hashlib.sha256(f"{seed}:{user}".encode()).hexdigest())


@dataclass(frozen=True)
class Waves:
    size: int  # places per wave
    every: timedelta  # between two waves

    def opens_at(self, starts_at: datetime, place: int, *, after_collectors: bool) -> datetime:
        wave = (place - 1) // self.size + (1 if after_collectors else 0)
        return starts_at + wave * self.every


def waves_for(drop: Drop, line: int) -> Waves:
    early = timedelta(minutes=drop.early_access_minutes)
    size = max(1, drop.stock)
    count = max(1, math.ceil(line / size))
    if drop.allocation == Allocation.COLLECTORS_FIRST:
        count += 1  # the collectors' wave comes first
    return Waves(size=size, every=early / count)


class NotYourTurn(UserError):
    def __init__(self, drop: Drop, opens_at: datetime, place: int) -> None:
        super().__init__(
            f"Not your turn yet for **{drop.name}**: you are #{place} in line, and your wave "
            f"opens {discord_timestamp(opens_at, 'R')}. Press **Get my link** again then."
        )
        self.opens_at = opens_at


class RaffleLost(UserError):
    """A fan who entered the raffle and did not win (yet): told kindly, with their reserve place."""

    def __init__(self, drop: Drop, rank: int) -> None:
        reserve = rank - drop.stock
        super().__init__(
            f"You did not win the **{drop.name}** raffle this time — thank you for entering. "
            f"You are reserve #{reserve}: if a winner's unit goes unpaid, it passes to the "
            "reserves in draw order, and you can press **Get my link** again then."
        )


def decide_claim(
    is_collector: Callable[[ClaimRequest], bool],
) -> Callable[[Drop | None, ClaimRequest, FanStanding, datetime], BaseException | None]:
    """The rule the claim writer applies to each press (``storage.claims.Decide``)."""

    def decide(
        drop: Drop | None, request: ClaimRequest, standing: FanStanding, now: datetime
    ) -> BaseException | None:
        if drop is None:
            return UserError(NO_SUCH_DROP)
        if drop.product is None:
            return UserError(f"**{drop.name}** has no checkout; there are no links to claim.")
        if drop.status == DropStatus.SCHEDULED:
            return UserError(
                f"**{drop.name}** is not open yet; it opens "
                f"{discord_timestamp(drop.starts_at, 'R')}."
            )
        if drop.status != DropStatus.LIVE:
            return UserError(f"**{drop.name}** is {drop.status}; no more links are given out.")
        member: Member = request.facts
        unmet = unmet_requirement(drop, member, now)
        if unmet is not None:
            return UserError(unmet)
        if drop.allocation == Allocation.RAFFLE:
            return _raffle_turn(drop, standing)
        return _line_turn(drop, standing, is_collector(request), now)

    return decide


def _raffle_turn(drop: Drop, standing: FanStanding) -> BaseException | None:
    if standing.draw_rank is None:
        return UserError(
            f"**{drop.name}** was a raffle among the fans on its waitlist when it opened, and "
            "you were not on it then; join the waitlist to hear about restocks."
        )
    if standing.draw_rank > drop.claim_window:
        return RaffleLost(drop, standing.draw_rank)
    return None


def _line_turn(
    drop: Drop, standing: FanStanding, collector: bool, now: datetime
) -> BaseException | None:
    early_ends = drop.starts_at + timedelta(minutes=drop.early_access_minutes)
    if now >= early_ends:
        return None  # the early window is over: anyone in the server
    if collector and drop.allocation == Allocation.COLLECTORS_FIRST:
        return None
    if standing.place is None:
        return UserError(
            f"For its first {plural(drop.early_access_minutes, 'minute')}, **{drop.name}** is "
            f"for fans on its waitlist; anyone can claim from {discord_timestamp(early_ends, 'R')}."
        )
    waves = waves_for(drop, drop.waitlist_size)
    opens = waves.opens_at(
        drop.starts_at,
        standing.place,
        after_collectors=drop.allocation == Allocation.COLLECTORS_FIRST,
    )
    return None if now >= opens else NotYourTurn(drop, opens, standing.place)


def allocation_steps(drop: Drop) -> list[str]:
    """How anyone can re-run a raffle's draw, as /drop show states it."""
    return [
        "1. Take the published seed (64 lowercase hex characters).",
        "2. Check that sha256 of the seed's text equals the commitment shown before the draw.",
        '3. For every entry, compute sha256("<seed>:<user_id>") as lowercase hex.',
        f"4. Sort ascending: the first {drop.stock} win; the rest are reserves in that order.",
    ]
