"""The few counts ``/metrics`` shows from the database, read in one short read transaction.

Every query here runs on an index (``ix_reminder_deliveries_state``,
``ix_purchase_followups_state``, ``ix_scheduled_sends_state_due``, ``uq_claims_drop_user``) or on
the drops table, which holds one row per drop ever made, so a scrape stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from storage.collector_tables import purchase_followups
from storage.engine import Database
from storage.states import ClaimState, DeliveryState, DropStatus, SendState
from storage.tables import claims, drops, reminder_deliveries, scheduled_sends

# Labels per live drop stay few: a server runs a handful of drops at once; this is the ceiling.
MAX_LIVE_DROPS = 50


@dataclass(frozen=True)
class LiveDropReading:
    id: int
    stock: int
    remaining: int
    claims: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GaugeReadings:
    reminders_pending: int
    followups_pending: int
    overdue_seconds: float
    live_drops: list[LiveDropReading]


async def read_gauges(database: Database, now: datetime) -> GaugeReadings:
    async with database.read() as connection:
        reminders_pending = await connection.scalar(
            select(func.count())
            .select_from(reminder_deliveries)
            .where(reminder_deliveries.c.state == DeliveryState.PENDING)
        )
        followups_pending = await connection.scalar(
            select(func.count())
            .select_from(purchase_followups)
            .where(purchase_followups.c.state == DeliveryState.PENDING)
        )
        oldest_due = await connection.scalar(
            select(func.min(scheduled_sends.c.due_at)).where(
                scheduled_sends.c.state == SendState.PENDING, scheduled_sends.c.due_at <= now
            )
        )
        live = (
            await connection.execute(
                select(drops.c.id, drops.c.stock, drops.c.remaining)
                .where(drops.c.status == DropStatus.LIVE)
                .order_by(drops.c.id.desc())
                .limit(MAX_LIVE_DROPS)
            )
        ).all()
        by_drop: dict[int, dict[str, int]] = {row.id: dict.fromkeys(ClaimState, 0) for row in live}
        if by_drop:
            counted = await connection.execute(
                select(claims.c.drop_id, claims.c.state, func.count())
                .where(claims.c.drop_id.in_(list(by_drop)))
                .group_by(claims.c.drop_id, claims.c.state)
            )
            for drop_id, state, count in counted:
                by_drop[drop_id][state] = count
    return GaugeReadings(
        reminders_pending=reminders_pending or 0,
        followups_pending=followups_pending or 0,
        overdue_seconds=0.0 if oldest_due is None else (now - oldest_due).total_seconds(),
        live_drops=[
            LiveDropReading(row.id, row.stock, row.remaining, by_drop[row.id]) for row in live
        ],
    )
