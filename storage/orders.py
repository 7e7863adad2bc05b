"""Orders coming back from the shops: each verified delivery applied once, in one transaction.

The delivery's row in ``shop_events`` and its effect on the claim commit together, so a shop
retrying the same delivery (they do, for hours) finds the row and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, select

from storage.collector_counts import recount_after_order
from storage.collector_tables import forgotten_counts
from storage.drops import Drop
from storage.engine import Database
from storage.followups import owe_followup
from storage.states import ClaimState, LinkState
from storage.tables import claim_links, claims, drops, shop_events


class Outcome(StrEnum):
    PAID = "paid"
    LATE_PAID = "late-paid"  # paid after the hold ended, and a unit was still free
    LATE_UNPAID = "late-unpaid"  # paid after the hold ended, no unit free: refund it
    REFUNDED = "refunded"
    EXPIRED = "expired"
    RESTOCKED = "restocked"
    UNMATCHED = "unmatched"  # no claim of ours carries this link
    # A refund of a fan who used /privacy forget: their claim is gone, the drop's anonymous
    # counts move one purchase from paid to refunded.
    FORGOTTEN_REFUND = "forgotten-refund"
    IGNORED = "ignored"
    REPEAT = "repeat"  # this delivery was applied before


# Outcomes that change a fan's count of purchases.
COUNTED_OUTCOMES = (Outcome.PAID, Outcome.LATE_PAID, Outcome.REFUNDED)


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    claim_id: int | None = None
    drop_id: int | None = None
    user_id: int | None = None
    order_ref: str | None = None


@dataclass(frozen=True)
class OrderFacts:
    """One verified shop event, as storage needs it (services translate the shop's)."""

    shop: str
    event_id: str
    kind: str  # paid | expired | refunded | restocked | ignored
    link_ref: str | None
    claim_ref: str | None
    order_ref: str | None


class OrderStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def apply(self, facts: OrderFacts, now: datetime) -> Applied:
        return await self.database.run_write(lambda connection: _apply(connection, facts, now))

    async def record_only(self, facts: OrderFacts, outcome: Outcome, now: datetime) -> bool:
        """Remember a delivery handled elsewhere (restocks); False if it was seen before."""

        def work(connection: Connection) -> bool:
            return _remember(connection, facts, outcome, now)

        return await self.database.run_write(work)

    async def restock(self, product: str, available: int, now: datetime) -> list[Drop]:
        """The shop has ``available`` units of ``product`` again: each open drop selling it
        gets free units up to that, less the units its fans hold (a held unit is paid from the
        same shop stock). The drops that gained any, as after the change."""

        def work(connection: Connection) -> list[Drop]:
            gained: list[Drop] = []
            rows = connection.execute(
                select(drops)
                .where(drops.c.product == product, drops.c.status.in_(("scheduled", "live")))
                .order_by(drops.c.id)
                # PostgreSQL: remaining is read here and written back below.
                .with_for_update()
            ).all()
            for row in rows:
                held = connection.execute(
                    select(func.count()).where(
                        claims.c.drop_id == row.id, claims.c.state == ClaimState.HELD
                    )
                ).scalar_one()
                extra = available - held - row.remaining
                if extra <= 0:
                    continue
                updated = connection.execute(
                    drops.update()
                    .where(drops.c.id == row.id)
                    .values(
                        stock=drops.c.stock + extra,
                        remaining=drops.c.remaining + extra,
                        updated_at=now,
                    )
                    .returning(*drops.c)
                ).one()
                gained.append(Drop.from_row(updated))
            return gained

        return await self.database.run_write(work)


def _seen(connection: Connection, facts: OrderFacts) -> bool:
    query = select(shop_events.c.event_id).where(
        shop_events.c.shop == facts.shop, shop_events.c.event_id == facts.event_id
    )
    return connection.execute(query).first() is not None


def _remember(connection: Connection, facts: OrderFacts, outcome: Outcome, now: datetime) -> bool:
    if _seen(connection, facts):
        return False
    connection.execute(
        shop_events.insert().values(
            shop=facts.shop,
            event_id=facts.event_id,
            kind=facts.kind,
            outcome=outcome,
            received_at=now,
        )
    )
    return True


def _find_claim(connection: Connection, facts: OrderFacts) -> Row[Any] | None:
    """The claim the order came through: by the link's own id first, then the claim_ref, then
    the order (a Shopify refund names only its order)."""
    # FOR UPDATE OF claims (nothing on SQLite): on PostgreSQL a hold expiring, or the same
    # webhook at another process, waits for this one, and this one reads the claim's state as
    # the last of them left it.
    query = (
        select(claims)
        .join(claim_links, claim_links.c.id == claims.c.link_id)
        .with_for_update(of=claims)
    )
    if facts.link_ref:
        row = connection.execute(
            query.where(claim_links.c.shop == facts.shop, claim_links.c.link_ref == facts.link_ref)
        ).first()
        if row is not None:
            return row
    if facts.claim_ref:
        row = connection.execute(query.where(claim_links.c.claim_ref == facts.claim_ref)).first()
        if row is not None:
            return row
    if facts.order_ref:
        return connection.execute(
            query.where(claim_links.c.shop == facts.shop, claims.c.order_ref == facts.order_ref)
        ).first()
    return None


def _forgotten_refund(connection: Connection, facts: OrderFacts) -> bool:
    """A refund through a link we handed out whose claim was forgotten: the drop's anonymous
    counts follow (paid - 1, refunded + 1), so its totals stay true. Found by the link's own id
    or the claim_ref; a refund naming only its order (Shopify) cannot be traced once the claim
    is gone, and stays unmatched."""
    link = claim_links.c
    found: ColumnElement[bool] | None = None
    if facts.link_ref:
        found = (link.shop == facts.shop) & (link.link_ref == facts.link_ref)
    elif facts.claim_ref:
        found = link.claim_ref == facts.claim_ref
    if found is None:
        return False
    drop_id = connection.execute(
        select(link.drop_id).where(found, link.state == LinkState.TAKEN)
    ).scalar_one_or_none()
    if drop_id is None:
        return False
    moved = connection.execute(
        forgotten_counts.update()
        .where(forgotten_counts.c.drop_id == drop_id, forgotten_counts.c.paid > 0)
        .values(paid=forgotten_counts.c.paid - 1, refunded=forgotten_counts.c.refunded + 1)
    )
    return moved.rowcount == 1


def _apply(connection: Connection, facts: OrderFacts, now: datetime) -> Applied:
    if _seen(connection, facts):
        return Applied(Outcome.REPEAT)
    outcome, applied = _effect(connection, facts, now)
    if applied.claim_id is not None and outcome in COUNTED_OUTCOMES:
        recount_after_order(connection, applied.claim_id, now)  # collectors' counts and roles
    if outcome in (Outcome.PAID, Outcome.LATE_PAID):  # the thank-you DM, owed with the purchase
        owe_followup(connection, applied, now)
    _remember(connection, facts, outcome, now)
    return applied


def _effect(connection: Connection, facts: OrderFacts, now: datetime) -> tuple[Outcome, Applied]:
    if facts.kind not in ("paid", "expired", "refunded"):
        return Outcome.IGNORED, Applied(Outcome.IGNORED)
    claim = _find_claim(connection, facts)
    if claim is None:
        if facts.kind == "refunded" and _forgotten_refund(connection, facts):
            return Outcome.FORGOTTEN_REFUND, Applied(Outcome.FORGOTTEN_REFUND)
        return Outcome.UNMATCHED, Applied(Outcome.UNMATCHED, order_ref=facts.order_ref)
    claim_id, drop_id, user_id, state = claim.id, claim.drop_id, claim.user_id, claim.state
    order_ref = facts.order_ref or claim.order_ref

    def done(outcome: Outcome) -> tuple[Outcome, Applied]:
        return outcome, Applied(outcome, claim_id, drop_id, user_id, order_ref)

    def set_claim(**values: object) -> None:
        connection.execute(claims.update().where(claims.c.id == claim_id).values(**values))

    if facts.kind == "paid":
        if state == ClaimState.HELD:
            set_claim(state=ClaimState.PAID, order_ref=order_ref, paid_at=now)
            return done(Outcome.PAID)
        if state == ClaimState.EXPIRED:
            # The hold ended unpaid and its unit went back: it counts only if still free.
            took = connection.execute(
                drops.update()
                .where(drops.c.id == drop_id, drops.c.remaining > 0)
                .values(remaining=drops.c.remaining - 1)
                .returning(drops.c.id)
            ).first()
            if took is not None:
                set_claim(state=ClaimState.PAID, order_ref=order_ref, paid_at=now)
                return done(Outcome.LATE_PAID)
            set_claim(order_ref=order_ref)
            return done(Outcome.LATE_UNPAID)
        return done(Outcome.IGNORED)  # already paid or refunded
    if facts.kind == "refunded":
        if state == ClaimState.PAID:
            set_claim(state=ClaimState.REFUNDED, refunded_at=now)
            return done(Outcome.REFUNDED)
        return done(Outcome.IGNORED)
    # expired at the shop (Stripe ends a session itself, or we ended it)
    if state == ClaimState.HELD:
        set_claim(state=ClaimState.EXPIRED, link_ended=1)
        connection.execute(
            drops.update().where(drops.c.id == drop_id).values(remaining=drops.c.remaining + 1)
        )
        return done(Outcome.EXPIRED)
    return done(Outcome.IGNORED)
