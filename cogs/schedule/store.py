"""The schedule's storage: every scheduled send and every reminder DM is a row, and every state
change is one conditional UPDATE, so two runs (or a run and a restart) can never both act."""

from __future__ import annotations

import dataclasses
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import UserError
from bot.localtime import utcnow
from storage.engine import Database
from storage.tables import (
    dm_channels,
    dm_unreachable,
    reminder_deliveries,
    reminder_optins,
    scheduled_sends,
)

# States of a scheduled send.
DRAFT, PENDING, SENDING, SENT = "draft", "pending", "sending", "sent"
MISSED, CANCELLED, FAILED, UNCERTAIN = "missed", "cancelled", "failed", "uncertain"
# Extra states of a reminder delivery.
UNREACHABLE, SKIPPED = "unreachable", "skipped"

DROP_KINDS = ("countdown", "opening", "reminder")


@dataclass(frozen=True)
class ScheduledSend:
    id: int
    guild_id: int
    kind: str
    drop_id: int | None
    channel_id: int | None
    due_at: datetime
    offset_seconds: int
    message: str | None
    timezone: str | None
    wall_clock: str | None
    repeat: str | None
    state: str
    message_id: int | None
    attempts: int
    created_by: int | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> ScheduledSend:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in row._mapping.items() if key in names})

    @property
    def marker(self) -> str:
        return f"ref S{self.id}"


@dataclass(frozen=True)
class Delivery:
    id: int
    send_id: int
    drop_id: int
    user_id: int
    state: str
    message_id: int | None
    attempts: int
    offset_seconds: int = 0

    @property
    def marker(self) -> str:
        return f"ref R{self.id}"


def _delivery(row: Row[Any], offset_seconds: int = 0) -> Delivery:
    m = row._mapping
    return Delivery(
        m["id"],
        m["send_id"],
        m["drop_id"],
        m["user_id"],
        m["state"],
        m["message_id"],
        m["attempts"],
        offset_seconds,
    )


class ScheduleStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.database.write()

    # --- scheduled sends ---------------------------------------------------------------------
    async def insert(
        self, connection: AsyncConnection | None = None, **values: Any
    ) -> ScheduledSend:
        now = utcnow()
        values.setdefault("state", PENDING)
        statement = (
            scheduled_sends.insert()
            .values(**values, created_at=now, updated_at=now)
            .returning(*scheduled_sends.c)
        )
        if connection is not None:
            return ScheduledSend.from_row((await connection.execute(statement)).one())
        async with self.write() as own:
            return ScheduledSend.from_row((await own.execute(statement)).one())

    async def get(self, send_id: int) -> ScheduledSend | None:
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    select(scheduled_sends).where(scheduled_sends.c.id == send_id)
                )
            ).first()
        return ScheduledSend.from_row(row) if row else None

    async def transition(
        self, send_id: int, from_states: tuple[str, ...], to_state: str, **values: Any
    ) -> ScheduledSend | None:
        """Move a row between states if (and only if) it is in one of ``from_states``."""
        async with self.write() as connection:
            return await self._transition(connection, send_id, from_states, to_state, **values)

    async def _transition(
        self,
        connection: AsyncConnection,
        send_id: int,
        from_states: tuple[str, ...],
        to_state: str,
        **values: Any,
    ) -> ScheduledSend | None:
        row = (
            await connection.execute(
                scheduled_sends.update()
                .where(scheduled_sends.c.id == send_id, scheduled_sends.c.state.in_(from_states))
                .values(state=to_state, updated_at=utcnow(), **values)
                .returning(*scheduled_sends.c)
            )
        ).first()
        return ScheduledSend.from_row(row) if row else None

    async def claim(self, send_id: int) -> ScheduledSend | None:
        """Take a due row for sending: the one conditional UPDATE that makes a send exactly once."""
        return await self.transition(
            send_id, (PENDING,), SENDING, attempts=scheduled_sends.c.attempts + 1
        )

    async def mark_sent(
        self, send_id: int, message_id: int | None, follow_up: dict[str, Any] | None = None
    ) -> ScheduledSend | None:
        """Record the post; a repeat's next occurrence is inserted in the same transaction."""
        async with self.write() as connection:
            await self._transition(connection, send_id, (SENDING,), SENT, message_id=message_id)
            if follow_up is None:
                return None
            return await self.insert(connection, **follow_up)

    async def in_states(self, *states: str) -> list[ScheduledSend]:
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(scheduled_sends)
                    .where(scheduled_sends.c.state.in_(states))
                    .order_by(scheduled_sends.c.due_at, scheduled_sends.c.id)
                )
            ).all()
        return [ScheduledSend.from_row(row) for row in rows]

    async def guild_pending(self, guild_id: int, kinds: tuple[str, ...]) -> list[ScheduledSend]:
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(scheduled_sends)
                    .where(
                        scheduled_sends.c.guild_id == guild_id,
                        scheduled_sends.c.state == PENDING,
                        scheduled_sends.c.kind.in_(kinds),
                    )
                    .order_by(scheduled_sends.c.due_at, scheduled_sends.c.id)
                )
            ).all()
        return [ScheduledSend.from_row(row) for row in rows]

    async def drop_rows(self, connection: AsyncConnection, drop_id: int) -> list[ScheduledSend]:
        rows = (
            await connection.execute(
                select(scheduled_sends)
                .where(scheduled_sends.c.drop_id == drop_id)
                .order_by(scheduled_sends.c.id)
            )
        ).all()
        return [ScheduledSend.from_row(row) for row in rows]

    async def cancel_announcement(self, guild_id: int, send_id: int) -> ScheduledSend:
        async with self.write() as connection:
            row = (
                await connection.execute(
                    select(scheduled_sends).where(
                        scheduled_sends.c.id == send_id,
                        scheduled_sends.c.guild_id == guild_id,
                        scheduled_sends.c.kind == "announcement",
                    )
                )
            ).first()
            if row is None:
                raise UserError(
                    "I can't find that announcement in this server; pick one from the list."
                )
            found = ScheduledSend.from_row(row)
            if found.state == SENDING:
                raise UserError("That announcement is being posted right now; it's too late.")
            if found.state != PENDING:
                raise UserError(f"That announcement is already {found.state}; nothing to cancel.")
            cancelled = await self._transition(connection, send_id, (PENDING,), CANCELLED)
            assert cancelled is not None
            return cancelled

    # --- reminder fan-out and deliveries -----------------------------------------------------
    async def fan_out(self, send_id: int) -> list[int]:
        """Claim a reminder row and owe a DM to each opted-in, reachable fan, atomically."""
        async with self.write() as connection:
            claimed = await self._transition(
                connection, send_id, (PENDING,), SENT, attempts=scheduled_sends.c.attempts + 1
            )
            if claimed is None or claimed.drop_id is None:
                return []
            # A fan recorded unreachable is skipped unless they opted in again after that.
            fans = (
                await connection.execute(
                    select(reminder_optins.c.user_id)
                    .outerjoin(
                        dm_unreachable, dm_unreachable.c.user_id == reminder_optins.c.user_id
                    )
                    .where(
                        reminder_optins.c.drop_id == claimed.drop_id,
                        or_(
                            dm_unreachable.c.user_id.is_(None),
                            dm_unreachable.c.recorded_at < reminder_optins.c.created_at,
                        ),
                    )
                    .order_by(reminder_optins.c.created_at)
                )
            ).scalars()
            now = utcnow()
            rows = [
                {
                    "send_id": send_id,
                    "drop_id": claimed.drop_id,
                    "guild_id": claimed.guild_id,
                    "user_id": user_id,
                    "state": PENDING,
                    "created_at": now,
                    "updated_at": now,
                }
                for user_id in fans
            ]
            if rows:
                await connection.execute(
                    self.database.insert_ignoring_duplicates(reminder_deliveries), rows
                )
            ids = (
                await connection.execute(
                    select(reminder_deliveries.c.id)
                    .where(reminder_deliveries.c.send_id == send_id)
                    .order_by(reminder_deliveries.c.id)
                )
            ).scalars()
            return list(ids)

    async def deliveries_in(self, *states: str) -> list[Delivery]:
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(reminder_deliveries)
                    .where(reminder_deliveries.c.state.in_(states))
                    .order_by(reminder_deliveries.c.id)
                )
            ).all()
        return [_delivery(row) for row in rows]

    async def claim_delivery(self, delivery_id: int) -> Delivery | None:
        """pending -> sending, only while the fan is still opted in and reachable."""
        async with self.write() as connection:
            row = (
                await connection.execute(
                    select(
                        reminder_deliveries,
                        scheduled_sends.c.offset_seconds,
                        reminder_optins.c.user_id.label("opted_in"),
                        dm_unreachable.c.recorded_at.label("unreachable_at"),
                        reminder_optins.c.created_at.label("opted_in_at"),
                    )
                    .join(scheduled_sends, scheduled_sends.c.id == reminder_deliveries.c.send_id)
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == reminder_deliveries.c.drop_id,
                            reminder_optins.c.user_id == reminder_deliveries.c.user_id,
                        ),
                    )
                    .outerjoin(
                        dm_unreachable, dm_unreachable.c.user_id == reminder_deliveries.c.user_id
                    )
                    .where(
                        reminder_deliveries.c.id == delivery_id,
                        reminder_deliveries.c.state == PENDING,
                    )
                )
            ).first()
            if row is None:
                return None
            blocked = row.unreachable_at is not None and (
                row.opted_in_at is None or row.unreachable_at >= row.opted_in_at
            )
            state = SKIPPED if row.opted_in is None or blocked else SENDING
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id == delivery_id)
                .values(
                    state=state,
                    attempts=reminder_deliveries.c.attempts + 1,
                    updated_at=utcnow(),
                )
            )
            if state == SKIPPED:
                return None
            return dataclasses.replace(
                _delivery(row, row.offset_seconds), state=SENDING, attempts=row.attempts + 1
            )

    async def finish_delivery(
        self, delivery_id: int, state: str, message_id: int | None = None
    ) -> None:
        async with self.write() as connection:
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id == delivery_id)
                .values(state=state, message_id=message_id, updated_at=utcnow())
            )

    async def record_unreachable(self, delivery_id: int, user_id: int, code: int) -> None:
        async with self.write() as connection:
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id == delivery_id)
                .values(state=UNREACHABLE, updated_at=utcnow())
            )
            await connection.execute(
                dm_unreachable.delete().where(dm_unreachable.c.user_id == user_id)
            )
            await connection.execute(
                dm_unreachable.insert().values(user_id=user_id, code=code, recorded_at=utcnow())
            )

    async def unreachable(self) -> set[int]:
        async with self.database.read() as connection:
            return set((await connection.execute(select(dm_unreachable.c.user_id))).scalars())

    async def stop_reminders(self, drop_id: int, user_id: int) -> bool:
        """The fan's "stop reminders": drop the opt-in and every DM still owed for the drop."""
        async with self.write() as connection:
            removed = await connection.execute(
                reminder_optins.delete().where(
                    reminder_optins.c.drop_id == drop_id, reminder_optins.c.user_id == user_id
                )
            )
            await connection.execute(
                reminder_deliveries.update()
                .where(
                    reminder_deliveries.c.drop_id == drop_id,
                    reminder_deliveries.c.user_id == user_id,
                    reminder_deliveries.c.state == PENDING,
                )
                .values(state=SKIPPED, updated_at=utcnow())
            )
            return bool(removed.rowcount)

    async def dm_channel(self, user_id: int) -> int | None:
        async with self.database.read() as connection:
            value = await connection.scalar(
                select(dm_channels.c.channel_id).where(dm_channels.c.user_id == user_id)
            )
        return int(value) if value is not None else None

    async def remember_dm_channel(self, user_id: int, channel_id: int) -> None:
        async with self.write() as connection:
            await connection.execute(
                self.database.insert_ignoring_duplicates(dm_channels).values(
                    user_id=user_id, channel_id=channel_id
                )
            )
