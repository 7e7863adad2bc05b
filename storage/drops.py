"""The drops table: every query on drops (the waitlist has its own module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import Database
from storage.records import Record
from storage.states import OPEN_DROP_STATUSES, Allocation, DropStatus
from storage.tables import drops


@dataclass(frozen=True)
class Drop(Record):
    id: int
    guild_id: int
    name: str
    description: str | None
    image_url: str | None
    starts_at: datetime
    timezone: str
    stock: int
    remaining: int
    allocation: Allocation
    early_access_minutes: int
    product: str | None
    required_role_id: int | None
    min_account_age_days: int
    min_member_days: int
    channel_id: int | None
    message_id: int | None
    ping_role_id: int | None
    event_id: int | None
    status: DropStatus
    created_by: int
    # The line's counters (see storage/tables.py): how many wait, sequence numbers handed out.
    waitlist_size: int = 0
    waitlist_seq: int = 0
    # Raffles: the seed stays secret until ``drawn_at``; the commitment is public from the start.
    raffle_seed: str | None = field(default=None, repr=False)
    raffle_commitment: str | None = None
    drawn_at: datetime | None = None
    claim_window: int = 0
    claim_round: int = 0

    def __post_init__(self) -> None:
        # Rows hold plain strings; give the services the enums.
        object.__setattr__(self, "status", DropStatus(self.status))
        object.__setattr__(self, "allocation", Allocation(self.allocation))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DROP_STATUSES


def _drop(row: Row[Any] | None) -> Drop | None:
    return Drop.from_row(row) if row is not None else None


# Open drops first, then by opening time: what a manager or a fan most likely means.
_OPEN_FIRST = drops.c.status.in_(OPEN_DROP_STATUSES).desc()


class DropStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def insert(self, connection: AsyncConnection, **values: Any) -> Drop:
        values["name_key"] = values["name"].casefold()
        result = await connection.execute(drops.insert().values(**values).returning(*drops.c))
        return Drop.from_row(result.one())

    async def open_name_taken(
        self, connection: AsyncConnection, guild_id: int, name: str, except_id: int | None = None
    ) -> str | None:
        """The name, as spelled there, of another open drop of this server with this name
        (case-insensitively), or None."""
        query = select(drops.c.name).where(
            drops.c.guild_id == guild_id,
            drops.c.name_key == name.casefold(),
            drops.c.status.in_(OPEN_DROP_STATUSES),
        )
        if except_id is not None:
            query = query.where(drops.c.id != except_id)
        return (await connection.execute(query)).scalar()

    async def get_in(self, connection: AsyncConnection, guild_id: int, drop_id: int) -> Drop | None:
        query = select(drops).where(drops.c.id == drop_id, drops.c.guild_id == guild_id)
        return _drop((await connection.execute(query)).first())

    async def get(self, guild_id: int, drop_id: int) -> Drop | None:
        async with self.database.read() as connection:
            return await self.get_in(connection, guild_id, drop_id)

    async def get_any(self, drop_id: int) -> Drop | None:
        """A drop by id whatever its server: for background work, never for a user's input."""
        async with self.database.read() as connection:
            return _drop(
                (await connection.execute(select(drops).where(drops.c.id == drop_id))).first()
            )

    async def by_name(self, guild_id: int, name: str) -> Drop | None:
        """The drop of this server with this name, an open one before a closed one."""
        query = (
            select(drops)
            .where(drops.c.guild_id == guild_id, drops.c.name_key == name.casefold())
            .order_by(_OPEN_FIRST, drops.c.id.desc())
            .limit(1)
        )
        async with self.database.read() as connection:
            return _drop((await connection.execute(query)).first())

    async def in_guild(self, guild_id: int, *, open_only: bool = False) -> list[Drop]:
        query = select(drops).where(drops.c.guild_id == guild_id)
        if open_only:
            query = query.where(drops.c.status.in_(OPEN_DROP_STATUSES))
        query = query.order_by(_OPEN_FIRST, drops.c.starts_at)
        async with self.database.read() as connection:
            return [Drop.from_row(row) for row in (await connection.execute(query)).all()]

    async def update(self, connection: AsyncConnection, drop_id: int, **values: Any) -> Drop:
        if "name" in values:
            values["name_key"] = values["name"].casefold()
        result = await connection.execute(
            drops.update().where(drops.c.id == drop_id).values(**values).returning(*drops.c)
        )
        return Drop.from_row(result.one())

    async def move_status(
        self, drop_id: int, from_status: DropStatus, to_status: DropStatus, now: datetime
    ) -> Drop | None:
        """from -> to, only if the drop is (still) in ``from_status``."""
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    drops.update()
                    .where(drops.c.id == drop_id, drops.c.status == from_status)
                    .values(status=to_status, updated_at=now)
                    .returning(*drops.c)
                )
            ).first()
        return _drop(row)

    async def record_announcement(
        self, drop_id: int, *, channel_id: int, message_id: int, event_id: int | None
    ) -> Drop | None:
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    drops.update()
                    .where(drops.c.id == drop_id)
                    .values(channel_id=channel_id, message_id=message_id, event_id=event_id)
                    .returning(*drops.c)
                )
            ).first()
        return _drop(row)

    async def delete(self, drop_id: int) -> None:
        async with self.database.write() as connection:
            await connection.execute(drops.delete().where(drops.c.id == drop_id))

    async def selling(self) -> list[Drop]:
        """Open drops that sell a product: what the link pool looks after."""
        query = select(drops).where(
            drops.c.status.in_(OPEN_DROP_STATUSES), drops.c.product.is_not(None)
        )
        async with self.database.read() as connection:
            return [Drop.from_row(row) for row in (await connection.execute(query)).all()]
