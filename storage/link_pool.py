"""The pool of purchase links issued ahead of need, so a fan's click never waits on the shop.

A link row is written (``issuing``, with its ``claim_ref``) before the shop is asked: the
``claim_ref`` is the shop call's idempotency key, so a crash between the call and the answer is
repaired by asking again with the same key, never by a second link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from storage.engine import Database
from storage.states import ClaimState, LinkState
from storage.tables import claim_links, claims, drops


@dataclass(frozen=True)
class PendingLink:
    id: int
    drop_id: int
    shop: str
    claim_ref: str


class LinkPoolStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def usable(self, drop_id: int, needed_until: datetime) -> int:
        """Ready links that outlive a hold starting now, plus those being issued."""
        query = select(func.count()).where(
            claim_links.c.drop_id == drop_id,
            (
                (claim_links.c.state == LinkState.READY)
                & (claim_links.c.expires_at.is_(None) | (claim_links.c.expires_at > needed_until))
            )
            | (claim_links.c.state == LinkState.ISSUING),
        )
        async with self.database.read() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def remaining(self, drop_id: int) -> int:
        """The drop's units not taken now (0 for a drop that is gone)."""
        query = select(drops.c.remaining).where(drops.c.id == drop_id)
        async with self.database.read() as connection:
            return int((await connection.execute(query)).scalar() or 0)

    async def holds_ending(self, drop_id: int, before: datetime) -> int:
        """Held claims whose hold ends before ``before``: units that may come back soon, each
        needing a fresh link (an ended hold's link is ended at the shop)."""
        query = select(func.count()).where(
            claims.c.drop_id == drop_id,
            claims.c.state == ClaimState.HELD,
            claims.c.hold_until < before,
        )
        async with self.database.read() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def reserve(
        self, drop_id: int, shop: str, count: int, now: datetime
    ) -> list[PendingLink]:
        """Write ``count`` rows to issue; their claim_ref is ``dropbell-<drop>-<row id>``."""
        reserved: list[PendingLink] = []
        async with self.database.write() as connection:
            for _ in range(count):
                row_id = (
                    await connection.execute(
                        claim_links.insert()
                        .values(
                            drop_id=drop_id,
                            shop=shop,
                            claim_ref=f"pending-{drop_id}-{now.timestamp()}-{len(reserved)}",
                            state=LinkState.ISSUING,
                            created_at=now,
                        )
                        .returning(claim_links.c.id)
                    )
                ).scalar_one()
                claim_ref = f"dropbell-{drop_id}-{row_id}"
                await connection.execute(
                    claim_links.update()
                    .where(claim_links.c.id == row_id)
                    .values(claim_ref=claim_ref)
                )
                reserved.append(PendingLink(row_id, drop_id, shop, claim_ref))
        return reserved

    async def issuing(self, drop_id: int) -> list[PendingLink]:
        """Rows whose shop call never came back (a crash): asked again with the same key."""
        query = select(claim_links).where(
            claim_links.c.drop_id == drop_id, claim_links.c.state == LinkState.ISSUING
        )
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [PendingLink(row.id, row.drop_id, row.shop, row.claim_ref) for row in rows]

    async def ready(
        self, link_id: int, link_ref: str, url: str, expires_at: datetime | None
    ) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                claim_links.update()
                .where(claim_links.c.id == link_id)
                .values(link_ref=link_ref, url=url, expires_at=expires_at, state=LinkState.READY)
            )

    async def ready_many(self, issued: list[tuple[int, str, str, datetime | None]]) -> None:
        """``ready`` for several rows (row id, link_ref, url, expires_at) in one transaction:
        a pool issuing many links at once writes them as they come back without queueing a
        transaction per link ahead of fans' claims for SQLite's one write lock."""

        def work(connection: Connection) -> None:
            for link_id, link_ref, url, expires_at in issued:
                connection.execute(
                    claim_links.update()
                    .where(claim_links.c.id == link_id)
                    .values(
                        link_ref=link_ref, url=url, expires_at=expires_at, state=LinkState.READY
                    )
                )

        await self.database.run_write(work)

    async def discard_unused(self, drop_id: int) -> list[tuple[str, str]]:
        """Mark the drop's unused links discarded: (shop, link_ref) of each, to end at the shop."""
        async with self.database.write() as connection:
            rows = (
                await connection.execute(
                    claim_links.update()
                    .where(
                        claim_links.c.drop_id == drop_id,
                        claim_links.c.state.in_((LinkState.READY, LinkState.ISSUING)),
                    )
                    .values(state=LinkState.DISCARDED)
                    .returning(claim_links.c.shop, claim_links.c.link_ref)
                )
            ).all()
        return [(row.shop, row.link_ref) for row in rows if row.link_ref]
