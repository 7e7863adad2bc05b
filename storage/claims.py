"""Claims: a fan takes one unit of a live drop and one pooled purchase link, in one transaction.

Written in batches like joins (group commit, one hop to the writer thread), and never
overselling: the unit is taken by one conditional statement, ``UPDATE drops SET remaining =
remaining - 1 WHERE id = ? AND remaining > 0``, in the same transaction as the claim row, whose
unique (drop, fan) key makes a second press find the first claim. Whether a fan may claim now is
the caller's rule (``decide``); this module only applies it to what the database knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from storage.drops import Drop
from storage.records import Record
from storage.states import ClaimState, LinkState
from storage.tables import claim_links, claims, drops, waitlist_departures, waitlist_entries


@dataclass
class ClaimRequest:
    guild_id: int
    drop_id: int
    user_id: int
    display_name: str
    # Whatever the caller's ``decide`` needs to judge the fan (roles, account age ...).
    facts: Any = field(repr=False)


@dataclass(frozen=True)
class FanStanding:
    """What the database knows of a fan's standing in a drop, for the caller's rule."""

    place: int | None  # on the waitlist now: their place; else None
    draw_rank: int | None  # raffles: their place in draw order, if they were drawn


@dataclass(frozen=True)
class Claim(Record):
    id: int
    drop_id: int
    guild_id: int
    user_id: int
    display_name: str
    link_id: int
    state: ClaimState
    claimed_at: datetime
    hold_until: datetime
    order_ref: str | None = None
    paid_at: datetime | None = None
    refunded_at: datetime | None = None
    url: str | None = None  # joined from claim_links

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", ClaimState(self.state))


@dataclass(frozen=True)
class Claimed:
    drop: Drop  # as after this claim (``remaining`` counts it)
    claim: Claim
    already: bool = False


class SoldOut(Exception):
    """No unit left; ``standing`` says where the fan is for restocks."""

    def __init__(self, drop: Drop, standing: FanStanding) -> None:
        super().__init__(f"drop {drop.id} is sold out")
        self.drop = drop
        self.standing = standing


class NoLinkReady(Exception):
    """A unit is free but the pool has no link for it yet (the shop is slow or down)."""

    def __init__(self, drop: Drop) -> None:
        super().__init__(f"drop {drop.id} has no purchase link ready")
        self.drop = drop


# ``decide(drop, request, standing, now)``: why this fan may not claim now (None: they may).
# ``drop`` is None when the request names no drop of its server.
Decide = Callable[[Drop | None, ClaimRequest, FanStanding, datetime], BaseException | None]

_CLAIM_COLUMNS = (*claims.c, claim_links.c.url)
_CLAIM_OF_FAN = (
    select(*_CLAIM_COLUMNS)
    .join(claim_links, claim_links.c.id == claims.c.link_id)
    .where(claims.c.drop_id == bindparam("drop_id"), claims.c.user_id == bindparam("user_id"))
)
# FOR UPDATE (nothing on SQLite, whose write transaction holds the one write lock): on
# PostgreSQL a claim's checks (the fan's claim, their standing) hold until it commits.
_DROP = select(drops).where(drops.c.id == bindparam("drop_id")).with_for_update()
_DROPS_IN_ORDER = (
    select(drops.c.id)
    .where(drops.c.id.in_(bindparam("drop_ids", expanding=True)))
    .order_by(drops.c.id)
    .with_for_update()
)
_ENTRY = select(waitlist_entries.c.seq, waitlist_entries.c.draw_rank).where(
    waitlist_entries.c.drop_id == bindparam("drop_id"),
    waitlist_entries.c.user_id == bindparam("user_id"),
)
_LEFT_BEFORE = (
    select(func.count())
    .select_from(waitlist_departures)
    .where(
        waitlist_departures.c.drop_id == bindparam("drop_id"),
        waitlist_departures.c.seq < bindparam("seq"),
    )
)
_TAKE_UNIT = (
    drops.update()
    .where(drops.c.id == bindparam("drop_id"), drops.c.remaining > 0)
    .values(remaining=drops.c.remaining - 1)
    .returning(*drops.c)
)
_RETURN_UNIT = (
    drops.update().where(drops.c.id == bindparam("drop_id")).values(remaining=drops.c.remaining + 1)
)
# The oldest ready link that outlives the hold; a link about to expire at the shop is skipped.
# On PostgreSQL a link another transaction is taking is skipped rather than waited for (SKIP
# LOCKED), so concurrent claims never take one link twice nor turn a fan away while other links
# are ready; SQLite renders no locking clause (one writer at a time).
_NEXT_LINK = (
    select(claim_links.c.id)
    .where(
        claim_links.c.drop_id == bindparam("link_drop"),
        claim_links.c.state == LinkState.READY,
        (claim_links.c.expires_at.is_(None)) | (claim_links.c.expires_at > bindparam("needed")),
    )
    .order_by(claim_links.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_TAKE_LINK = (
    claim_links.update()
    .where(claim_links.c.id == _NEXT_LINK, claim_links.c.state == LinkState.READY)
    .values(state=LinkState.TAKEN)
    .returning(claim_links.c.id, claim_links.c.url)
)
_INSERT_CLAIM = claims.insert().returning(claims.c.id)


def fan_standing(connection: Connection, drop_id: int, user_id: int) -> FanStanding:
    entry = connection.execute(_ENTRY, {"drop_id": drop_id, "user_id": user_id}).first()
    if entry is None:
        return FanStanding(place=None, draw_rank=None)
    left = connection.execute(_LEFT_BEFORE, {"drop_id": drop_id, "seq": entry.seq}).scalar_one()
    return FanStanding(place=entry.seq - int(left), draw_rank=entry.draw_rank)


def write_claim_batch(
    batch: list[ClaimRequest],
    decide: Decide,
    hold: timedelta,
    now: datetime,
    connection: Connection,
) -> list[Claimed | BaseException]:
    """Every claim of the batch, in order: a new claim, the fan's existing one, or why not."""
    # Lock the batch's drops in id order first (nothing on SQLite): two processes whose batches
    # name the same drops in other orders then never wait on each other in a circle.
    drop_ids = sorted({request.drop_id for request in batch})
    if len(drop_ids) > 1:
        connection.execute(_DROPS_IN_ORDER, {"drop_ids": drop_ids}).all()
    outcomes: list[Claimed | BaseException] = []
    for request in batch:
        outcomes.append(_claim_one(connection, request, decide, hold, now))
    return outcomes


def _claim_one(
    connection: Connection, request: ClaimRequest, decide: Decide, hold: timedelta, now: datetime
) -> Claimed | BaseException:
    row = connection.execute(_DROP, {"drop_id": request.drop_id}).first()
    drop = Drop.from_row(row) if row is not None else None
    if drop is not None and drop.guild_id != request.guild_id:
        drop = None
    key = {"drop_id": request.drop_id, "user_id": request.user_id}
    if drop is not None:
        existing = connection.execute(_CLAIM_OF_FAN, key).first()
        if existing is not None:
            return Claimed(drop, Claim.from_row(existing), already=True)
    standing = (
        fan_standing(connection, request.drop_id, request.user_id)
        if drop is not None
        else FanStanding(None, None)
    )
    refusal = decide(drop, request, standing, now)
    if refusal is not None:
        return refusal
    assert drop is not None
    taken = connection.execute(_TAKE_UNIT, {"drop_id": drop.id}).first()
    if taken is None:
        return SoldOut(drop, standing)
    link = connection.execute(_TAKE_LINK, {"link_drop": drop.id, "needed": now + hold}).first()
    if link is None:
        connection.execute(_RETURN_UNIT, {"drop_id": drop.id})
        return NoLinkReady(drop)
    values = {
        "drop_id": drop.id,
        "guild_id": request.guild_id,
        "user_id": request.user_id,
        "display_name": request.display_name[:100],
        "link_id": link.id,
        "state": ClaimState.HELD,
        "claimed_at": now,
        "hold_until": now + hold,
    }
    claim_id = connection.execute(_INSERT_CLAIM, values).scalar_one()
    claim = Claim(id=claim_id, url=link.url, **values)
    return Claimed(Drop.from_row(taken), claim)
