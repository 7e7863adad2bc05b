"""Holds that end: the claims table is their schedule, so a restart loses no expiry.

A held claim whose ``hold_until`` has passed becomes ``expired`` and gives its unit back in the
same transaction; the shop link is ended afterwards (``link_ended``), off the fan's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from storage.claims import Claim
from storage.engine import Database
from storage.states import ClaimState
from storage.tables import claim_links, claims, drops


@dataclass(frozen=True)
class LinkToEnd:
    claim_id: int
    drop_id: int
    shop: str
    link_ref: str


@dataclass(frozen=True)
class ClaimCounts:
    held: int = 0
    expired: int = 0
    paid: int = 0
    refunded: int = 0

    @property
    def claimed(self) -> int:
        return self.held + self.expired + self.paid + self.refunded


class HoldStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def expire_due(self, now: datetime) -> dict[int, int]:
        """End every hold due by ``now``: drop id -> units given back."""
        return await self.database.run_write(lambda connection: _expire(connection, now))

    async def expire_one(self, claim_id: int) -> bool:
        """End one hold now (its link expired at the shop); whether it was held."""

        def work(connection: Connection) -> bool:
            row = connection.execute(
                claims.update()
                .where(claims.c.id == claim_id, claims.c.state == ClaimState.HELD)
                .values(state=ClaimState.EXPIRED, link_ended=1)
                .returning(claims.c.drop_id)
            ).first()
            if row is None:
                return False
            connection.execute(
                drops.update()
                .where(drops.c.id == row.drop_id)
                .values(remaining=drops.c.remaining + 1)
            )
            return True

        return await self.database.run_write(work)

    async def next_due(self) -> datetime | None:
        async with self.database.read() as connection:
            return (
                await connection.execute(
                    select(func.min(claims.c.hold_until)).where(claims.c.state == ClaimState.HELD)
                )
            ).scalar()

    async def links_to_end(self, limit: int = 100) -> list[LinkToEnd]:
        query = (
            select(claims.c.id, claims.c.drop_id, claim_links.c.shop, claim_links.c.link_ref)
            .join(claim_links, claim_links.c.id == claims.c.link_id)
            .where(claims.c.state == ClaimState.EXPIRED, claims.c.link_ended == 0)
            .order_by(claims.c.id)
            .limit(limit)
        )
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [LinkToEnd(row.id, row.drop_id, row.shop, row.link_ref or "") for row in rows]

    async def link_ended(self, claim_id: int) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                claims.update().where(claims.c.id == claim_id).values(link_ended=1)
            )

    async def counts(self, drop_id: int) -> ClaimCounts:
        query = (
            select(claims.c.state, func.count())
            .where(claims.c.drop_id == drop_id)
            .group_by(claims.c.state)
        )
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        return ClaimCounts(**{str(state): int(count) for state, count in rows})

    async def claim_of(self, drop_id: int, user_id: int) -> Claim | None:
        query = (
            select(*claims.c, claim_links.c.url)
            .join(claim_links, claim_links.c.id == claims.c.link_id)
            .where(claims.c.drop_id == drop_id, claims.c.user_id == user_id)
        )
        async with self.database.read() as connection:
            row = (await connection.execute(query)).first()
        return Claim.from_row(row) if row is not None else None

    async def claims_of(self, drop_id: int) -> list[Claim]:
        query = (
            select(*claims.c, claim_links.c.url)
            .join(claim_links, claim_links.c.id == claims.c.link_id)
            .where(claims.c.drop_id == drop_id)
            .order_by(claims.c.id)
        )
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [Claim.from_row(row) for row in rows]


def _expire(connection: Connection, now: datetime) -> dict[int, int]:
    ended = connection.execute(
        claims.update()
        .where(claims.c.state == ClaimState.HELD, claims.c.hold_until <= now)
        .values(state=ClaimState.EXPIRED)
        .returning(claims.c.drop_id)
    ).all()
    given_back: dict[int, int] = {}
    for row in ended:
        given_back[row.drop_id] = given_back.get(row.drop_id, 0) + 1
    for drop_id, units in given_back.items():
        connection.execute(
            drops.update().where(drops.c.id == drop_id).values(remaining=drops.c.remaining + units)
        )
    return given_back
