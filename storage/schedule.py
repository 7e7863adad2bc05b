"""Scheduled sends: every post the bot must make at a time is a row, and every state change is
one conditional UPDATE, so two runs (or a run and a restart) can never both act."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import Database
from storage.records import Record
from storage.states import SendKind, SendState
from storage.tables import scheduled_sends

PENDING, SENDING, SENT = SendState.PENDING, SendState.SENDING, SendState.SENT


@dataclass(frozen=True)
class ScheduledSend(Record):
    id: int
    guild_id: int
    kind: SendKind
    drop_id: int | None
    channel_id: int | None
    due_at: datetime
    offset_seconds: int
    message: str | None
    timezone: str | None
    wall_clock: str | None
    repeat: str | None
    state: SendState
    message_id: int | None
    attempts: int
    created_by: int | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SendKind(self.kind))
        object.__setattr__(self, "state", SendState(self.state))

    @property
    def marker(self) -> str:
        return f"ref S{self.id}"


class SendStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.database.write()

    # --- scheduled sends ---------------------------------------------------------------------
    async def insert(
        self, connection: AsyncConnection | None = None, **values: Any
    ) -> ScheduledSend:
        now = _now()
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
            return await self.transition_in(connection, send_id, from_states, to_state, **values)

    async def transition_in(
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
                .values(state=to_state, updated_at=_now(), **values)
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
            await self.transition_in(connection, send_id, (SENDING,), SENT, message_id=message_id)
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

    async def sent_opening(self, drop_id: int) -> ScheduledSend | None:
        """The drop's opening post as sent (the latest, if it was postponed and re-opened)."""
        query = (
            select(scheduled_sends)
            .where(
                scheduled_sends.c.drop_id == drop_id,
                scheduled_sends.c.kind == SendKind.OPENING,
                scheduled_sends.c.state == SendState.SENT,
                scheduled_sends.c.message_id.is_not(None),
            )
            .order_by(scheduled_sends.c.id.desc())
            .limit(1)
        )
        async with self.database.read() as connection:
            row = (await connection.execute(query)).first()
        return ScheduledSend.from_row(row) if row is not None else None

    async def drop_rows(self, connection: AsyncConnection, drop_id: int) -> list[ScheduledSend]:
        rows = (
            await connection.execute(
                select(scheduled_sends)
                .where(scheduled_sends.c.drop_id == drop_id)
                .order_by(scheduled_sends.c.id)
            )
        ).all()
        return [ScheduledSend.from_row(row) for row in rows]

    async def find_announcement(self, guild_id: int, send_id: int) -> ScheduledSend | None:
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    select(scheduled_sends).where(
                        scheduled_sends.c.id == send_id,
                        scheduled_sends.c.guild_id == guild_id,
                        scheduled_sends.c.kind == SendKind.ANNOUNCEMENT,
                    )
                )
            ).first()
        return ScheduledSend.from_row(row) if row else None


def _now() -> datetime:
    return datetime.now(UTC)
