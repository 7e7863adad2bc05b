"""Waitlist entries and reminder opt-ins: every query of a fan's place in line.

Joins are written in batches by :mod:`storage.joins`; this module holds the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.drops import Drop
from storage.engine import Database
from storage.tables import drops, reminder_optins, waitlist_departures, waitlist_entries


@dataclass(frozen=True)
class FanEntry:
    drop: Drop
    place: int
    total: int
    reminders: bool
    draw_rank: int | None = None  # raffles, once drawn: the fan's place in draw order


@dataclass(frozen=True)
class WaitlistRow:
    place: int
    user_id: int
    display_name: str
    joined_at: datetime
    reminders: bool


class WaitlistStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def remove(self, drop_id: int, user_id: int) -> bool:
        """Take the fan off the line; whether they were on it. Everyone behind moves up: the
        departure is what their places subtract."""
        async with self.database.write() as connection:
            seq = (
                await connection.execute(
                    waitlist_entries.delete()
                    .where(
                        waitlist_entries.c.drop_id == drop_id,
                        waitlist_entries.c.user_id == user_id,
                    )
                    .returning(waitlist_entries.c.seq)
                )
            ).scalar()
            if seq is None:
                return False
            await connection.execute(waitlist_departures.insert().values(drop_id=drop_id, seq=seq))
            await connection.execute(
                drops.update()
                .where(drops.c.id == drop_id)
                .values(waitlist_size=drops.c.waitlist_size - 1)
            )
        return True

    async def count(self, drop_id: int) -> int:
        async with self.database.read() as connection:
            count = await connection.scalar(
                select(drops.c.waitlist_size).where(drops.c.id == drop_id)
            )
        return int(count or 0)

    async def counts(self, drop_ids: list[int]) -> dict[int, int]:
        """How many wait on each of these drops, in one query."""
        if not drop_ids:
            return {}
        query = select(drops.c.id, drops.c.waitlist_size).where(drops.c.id.in_(drop_ids))
        async with self.database.read() as connection:
            found = {row[0]: int(row[1]) for row in (await connection.execute(query)).all()}
        return {drop_id: found.get(drop_id, 0) for drop_id in drop_ids}

    async def _place(
        self, connection: AsyncConnection, drop_id: int, user_id: int
    ) -> tuple[int, int] | None:
        """(place, line size): the fan's sequence number minus the departures before it."""
        mine = (
            select(waitlist_entries.c.seq)
            .where(waitlist_entries.c.drop_id == drop_id, waitlist_entries.c.user_id == user_id)
            .scalar_subquery()
        )
        left_before = (
            select(func.count())
            .select_from(waitlist_departures)
            .where(waitlist_departures.c.drop_id == drop_id, waitlist_departures.c.seq < mine)
            .scalar_subquery()
        )
        size = select(drops.c.waitlist_size).where(drops.c.id == drop_id).scalar_subquery()
        row = (await connection.execute(select(mine, left_before, size))).one()
        return None if row[0] is None else (row[0] - row[1], row[2])

    async def fan_entries(self, guild_id: int, user_id: int) -> list[FanEntry]:
        """Every drop in this server the fan is waitlisted for, with their place."""
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(
                        drops,
                        reminder_optins.c.user_id.label("reminder_user"),
                        waitlist_entries.c.draw_rank,
                    )
                    .join(waitlist_entries, waitlist_entries.c.drop_id == drops.c.id)
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == drops.c.id,
                            reminder_optins.c.user_id == user_id,
                        ),
                    )
                    .where(
                        waitlist_entries.c.guild_id == guild_id,
                        waitlist_entries.c.user_id == user_id,
                    )
                    .order_by(drops.c.starts_at)
                )
            ).all()
            entries = []
            for row in rows:
                place = await self._place(connection, row.id, user_id)
                assert place is not None
                entries.append(
                    FanEntry(
                        Drop.from_row(row),
                        *place,
                        reminders=row.reminder_user is not None,
                        draw_rank=row.draw_rank,
                    )
                )
        return entries

    async def line(self, drop_id: int) -> list[WaitlistRow]:
        """The whole line in order, for exports."""
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(waitlist_entries, reminder_optins.c.user_id.label("reminder_user"))
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == waitlist_entries.c.drop_id,
                            reminder_optins.c.user_id == waitlist_entries.c.user_id,
                        ),
                    )
                    .where(waitlist_entries.c.drop_id == drop_id)
                    .order_by(waitlist_entries.c.id)
                )
            ).all()
        return [
            WaitlistRow(
                place, row.user_id, row.display_name, row.joined_at, row.reminder_user is not None
            )
            for place, row in enumerate(rows, start=1)
        ]

    async def is_waitlisted(self, drop_id: int, user_id: int) -> bool:
        async with self.database.read() as connection:
            found = await connection.scalar(
                select(waitlist_entries.c.user_id).where(
                    waitlist_entries.c.drop_id == drop_id, waitlist_entries.c.user_id == user_id
                )
            )
        return found is not None

    async def reminder_only(self, guild_id: int, user_id: int) -> list[Drop]:
        """Drops of this server the fan asked reminders for without joining their waitlist."""
        entered = select(waitlist_entries.c.drop_id).where(waitlist_entries.c.user_id == user_id)
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(drops)
                    .join(reminder_optins, reminder_optins.c.drop_id == drops.c.id)
                    .where(
                        drops.c.guild_id == guild_id,
                        reminder_optins.c.user_id == user_id,
                        drops.c.id.not_in(entered),
                    )
                    .order_by(drops.c.starts_at)
                )
            ).all()
        return [Drop.from_row(row) for row in rows]

    async def remove_reminder(self, drop_id: int, user_id: int) -> bool:
        async with self.database.write() as connection:
            removed = await connection.execute(
                reminder_optins.delete().where(
                    reminder_optins.c.drop_id == drop_id, reminder_optins.c.user_id == user_id
                )
            )
        return bool(removed.rowcount)

    async def add_reminder(self, drop_id: int, guild_id: int, user_id: int, now: datetime) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                self.database.insert_ignoring_duplicates(reminder_optins).values(
                    drop_id=drop_id, user_id=user_id, guild_id=guild_id, created_at=now
                )
            )
