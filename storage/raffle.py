"""The raffle's rows: the draw order written onto the waitlist entries, and the claim window."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from storage.drops import Drop
from storage.engine import Database
from storage.tables import drops, waitlist_entries

_RANK = (
    waitlist_entries.update()
    .where(
        waitlist_entries.c.drop_id == bindparam("d_id"),
        waitlist_entries.c.user_id == bindparam("u_id"),
    )
    .values(draw_rank=bindparam("rank"))
)


class RaffleStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def draw(
        self, drop_id: int, order: Callable[[str, Iterable[int]], list[int]], now: datetime
    ) -> Drop | None:
        """Rank every entry by ``order(seed, user_ids)`` once; the drop after, or None if it
        had no seed or was drawn before."""

        def work(connection: Connection) -> Drop | None:
            # FOR UPDATE (PostgreSQL): one process draws; another waits, then sees drawn_at.
            row = connection.execute(
                select(drops).where(drops.c.id == drop_id).with_for_update()
            ).first()
            if row is None or row.raffle_seed is None or row.drawn_at is not None:
                return None
            users = connection.execute(
                select(waitlist_entries.c.user_id).where(waitlist_entries.c.drop_id == drop_id)
            ).scalars()
            ranked = order(row.raffle_seed, list(users))
            if ranked:
                connection.execute(
                    _RANK,
                    [
                        {"d_id": drop_id, "u_id": user, "rank": rank}
                        for rank, user in enumerate(ranked, start=1)
                    ],
                )
            drawn = connection.execute(
                drops.update()
                .where(drops.c.id == drop_id)
                .values(drawn_at=now, claim_window=row.stock, claim_round=0, updated_at=now)
                .returning(*drops.c)
            ).one()
            return Drop.from_row(drawn)

        return await self.database.run_write(work)

    async def widen(self, drop_id: int, round_number: int) -> Drop | None:
        """Round ``round_number`` after the draw: the units still free pass to the next ranks.
        Applied once per round (a second call for the same round changes nothing)."""

        def work(connection: Connection) -> Drop | None:
            row = connection.execute(
                drops.update()
                .where(drops.c.id == drop_id, drops.c.claim_round < round_number)
                .values(
                    claim_window=drops.c.claim_window + drops.c.remaining,
                    claim_round=round_number,
                )
                .returning(*drops.c)
            ).first()
            return Drop.from_row(row) if row is not None else None

        return await self.database.run_write(work)

    async def drawn_live(self) -> list[Drop]:
        """Live raffles already drawn that still have units to give."""
        query = select(drops).where(
            drops.c.status == "live", drops.c.drawn_at.is_not(None), drops.c.remaining > 0
        )
        async with self.database.read() as connection:
            return [Drop.from_row(row) for row in (await connection.execute(query)).all()]

    async def entries(self, drop_id: int) -> list[tuple[int, int | None]]:
        """(user_id, draw_rank) of every entry, for anyone re-running the draw."""
        query = select(waitlist_entries.c.user_id, waitlist_entries.c.draw_rank).where(
            waitlist_entries.c.drop_id == drop_id
        )
        async with self.database.read() as connection:
            return [(row.user_id, row.draw_rank) for row in (await connection.execute(query))]
