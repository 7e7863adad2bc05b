"""Reminder DMs: one row per DM owed to one fan, the fans' DM channels, and who cannot be DMed.

Like scheduled sends, every delivery moves by conditional UPDATEs, so a DM is claimed once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, and_, func, or_, select

from storage.engine import Database
from storage.states import DeliveryState, SendKind, SendState
from storage.tables import (
    dm_channels,
    dm_unreachable,
    poll_commitments,
    polls,
    reminder_deliveries,
    reminder_optins,
    scheduled_sends,
    waitlist_entries,
)

PENDING, SENDING = DeliveryState.PENDING, DeliveryState.SENDING
SKIPPED, UNREACHABLE = DeliveryState.SKIPPED, DeliveryState.UNREACHABLE


@dataclass(frozen=True)
class Delivery:
    id: int
    send_id: int
    drop_id: int
    user_id: int
    state: DeliveryState
    message_id: int | None
    attempts: int
    offset_seconds: int = 0
    kind: str = SendKind.REMINDER
    draw_rank: int | None = None  # raffle results: the fan's place in draw order

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
        DeliveryState(m["state"]),
        m["message_id"],
        m["attempts"],
        offset_seconds,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _poll_fans_opted_in(drop_id: int, guild_id: int) -> Select[Any]:
    """The committed fans of the poll this drop was made from who opted in to reminders: the
    purchase thank-you's rule (a Remind me opt-in, not recorded unreachable since) taken
    server-wide, since no one could opt in to the new drop yet. By first commitment."""
    latest = (
        select(
            reminder_optins.c.user_id,
            func.max(reminder_optins.c.created_at).label("opted_in_at"),
        )
        .where(reminder_optins.c.guild_id == guild_id)
        .group_by(reminder_optins.c.user_id)
        .subquery()
    )
    return (
        select(poll_commitments.c.user_id)
        .join(polls, polls.c.id == poll_commitments.c.poll_id)
        .join(latest, latest.c.user_id == poll_commitments.c.user_id)
        .outerjoin(dm_unreachable, dm_unreachable.c.user_id == poll_commitments.c.user_id)
        .where(
            polls.c.drop_id == drop_id,
            or_(
                dm_unreachable.c.user_id.is_(None),
                dm_unreachable.c.recorded_at < latest.c.opted_in_at,
            ),
        )
        .group_by(poll_commitments.c.user_id)
        .order_by(func.min(poll_commitments.c.id))
    )


class ReminderStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def fan_out(self, send_id: int) -> list[int]:
        """Claim a reminder row and owe a DM to each opted-in, reachable fan, atomically."""
        async with self.database.write() as connection:
            claimed = (
                await connection.execute(
                    scheduled_sends.update()
                    .where(
                        scheduled_sends.c.id == send_id,
                        scheduled_sends.c.state == SendState.PENDING,
                    )
                    .values(
                        state=SendState.SENT,
                        attempts=scheduled_sends.c.attempts + 1,
                        updated_at=_now(),
                    )
                    .returning(
                        scheduled_sends.c.drop_id,
                        scheduled_sends.c.guild_id,
                        scheduled_sends.c.kind,
                    )
                )
            ).first()
            if claimed is None or claimed.drop_id is None:
                return []
            # A fan recorded unreachable is skipped unless they opted in again after that.
            if claimed.kind == SendKind.POLL_DROP:
                query = _poll_fans_opted_in(claimed.drop_id, claimed.guild_id)
            else:
                query = (
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
            fans = (await connection.execute(query)).scalars()
            now = _now()
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
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    select(
                        reminder_deliveries,
                        scheduled_sends.c.offset_seconds,
                        scheduled_sends.c.kind.label("send_kind"),
                        waitlist_entries.c.draw_rank,
                        reminder_optins.c.user_id.label("opted_in"),
                        dm_unreachable.c.recorded_at.label("unreachable_at"),
                        reminder_optins.c.created_at.label("opted_in_at"),
                    )
                    .join(scheduled_sends, scheduled_sends.c.id == reminder_deliveries.c.send_id)
                    .outerjoin(
                        waitlist_entries,
                        and_(
                            waitlist_entries.c.drop_id == reminder_deliveries.c.drop_id,
                            waitlist_entries.c.user_id == reminder_deliveries.c.user_id,
                        ),
                    )
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
                    # PostgreSQL: a second claim of this delivery waits, then finds it taken.
                    .with_for_update(of=reminder_deliveries)
                )
            ).first()
            if row is None:
                return None
            opted_in_at = row.opted_in_at
            if row.send_kind == SendKind.POLL_DROP:
                # Nobody opted in to a drop made a moment ago: the fan's latest Remind me on
                # any drop of this server counts (and was not stopped since).
                opted_in_at = await connection.scalar(
                    select(func.max(reminder_optins.c.created_at)).where(
                        reminder_optins.c.user_id == row.user_id,
                        reminder_optins.c.guild_id == row.guild_id,
                    )
                )
            blocked = row.unreachable_at is not None and (
                opted_in_at is None or row.unreachable_at >= opted_in_at
            )
            state = SKIPPED if opted_in_at is None or blocked else SENDING
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id == delivery_id)
                .values(
                    state=state,
                    attempts=reminder_deliveries.c.attempts + 1,
                    updated_at=_now(),
                )
            )
            if state == SKIPPED:
                return None
            return dataclasses.replace(
                _delivery(row, row.offset_seconds),
                state=SENDING,
                attempts=row.attempts + 1,
                kind=row.send_kind,
                draw_rank=row.draw_rank,
            )

    async def finish_delivery(
        self, delivery_id: int, state: DeliveryState, message_id: int | None = None
    ) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id == delivery_id)
                .values(state=state, message_id=message_id, updated_at=_now())
            )

    async def record_unreachable(
        self, user_id: int, code: int, *, delivery_ids: Iterable[int] = ()
    ) -> None:
        """The fan's DMs are closed: these DMs end, and no other is tried until they opt in
        again."""
        async with self.database.write() as connection:
            await connection.execute(
                reminder_deliveries.update()
                .where(reminder_deliveries.c.id.in_(list(delivery_ids)))
                .values(state=UNREACHABLE, updated_at=_now())
            )
            await connection.execute(
                dm_unreachable.delete().where(dm_unreachable.c.user_id == user_id)
            )
            await connection.execute(
                dm_unreachable.insert().values(user_id=user_id, code=code, recorded_at=_now())
            )

    async def release_delivery(self, delivery_id: int) -> None:
        """sending -> pending without counting the attempt: it was put off, not tried."""
        async with self.database.write() as connection:
            await connection.execute(
                reminder_deliveries.update()
                .where(
                    reminder_deliveries.c.id == delivery_id,
                    reminder_deliveries.c.state == SENDING,
                )
                .values(
                    state=PENDING,
                    attempts=reminder_deliveries.c.attempts - 1,
                    updated_at=_now(),
                )
            )

    async def unreachable(self) -> set[int]:
        async with self.database.read() as connection:
            return set((await connection.execute(select(dm_unreachable.c.user_id))).scalars())

    async def stop_reminders(self, drop_id: int, user_id: int) -> bool:
        """The fan's "stop reminders": drop the opt-in and every DM still owed for the drop."""
        async with self.database.write() as connection:
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
                .values(state=SKIPPED, updated_at=_now())
            )
            return bool(removed.rowcount)

    async def dm_channel(self, user_id: int) -> int | None:
        async with self.database.read() as connection:
            value = await connection.scalar(
                select(dm_channels.c.channel_id).where(dm_channels.c.user_id == user_id)
            )
        return int(value) if value is not None else None

    async def remember_dm_channel(self, user_id: int, channel_id: int) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                self.database.insert_ignoring_duplicates(dm_channels).values(
                    user_id=user_id, channel_id=channel_id
                )
            )
