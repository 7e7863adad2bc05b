"""The database gauges of /metrics against a real database (SQLite, or PostgreSQL on that leg):
DM queues, the oldest overdue send, and only live drops (tests/e2e/test_metrics.py scrapes a
running bot)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from storage.collector_tables import purchase_followups
from storage.engine import Database
from storage.gauges import read_gauges
from storage.migrate import upgrade
from storage.tables import claim_links, claims, drops, reminder_deliveries, scheduled_sends
from tests.databases import database_url

NOW = datetime.now(UTC)
GUILD = 1


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(database_url(tmp_path / "gauges.db"))
    await upgrade(db)
    yield db
    await db.dispose()


async def test_queues_overdue_sends_and_live_drops(database: Database) -> None:
    service = DropService(database, DropEvents())
    live = (
        await service.create(GUILD, 9, DropSpec("Live Tee", NOW + timedelta(hours=1), "UTC", 5))
    ).id
    scheduled = (
        await service.create(GUILD, 9, DropSpec("Later Tee", NOW + timedelta(days=1), "UTC", 5))
    ).id
    async with database.write() as connection:
        await connection.execute(
            update(drops).where(drops.c.id == live).values(status="live", remaining=3)
        )
        sends = []
        for minutes, state in ((-10, "pending"), (-90, "sent"), (-4, "pending"), (30, "pending")):
            inserted = await connection.execute(
                scheduled_sends.insert()
                .values(
                    guild_id=GUILD,
                    kind="reminder",
                    drop_id=live,
                    due_at=NOW + timedelta(minutes=minutes),
                    state=state,
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(scheduled_sends.c.id)
            )
            sends.append(inserted.scalar_one())
        for user_id, state in ((1, "pending"), (2, "pending"), (3, "sent")):
            await connection.execute(
                reminder_deliveries.insert().values(
                    send_id=sends[1],
                    drop_id=live,
                    guild_id=GUILD,
                    user_id=user_id,
                    state=state,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        for user_id, state in ((1, "paid"), (2, "held")):
            link = await connection.execute(
                claim_links.insert()
                .values(
                    drop_id=live, shop="s", claim_ref=f"r{user_id}", state="taken", created_at=NOW
                )
                .returning(claim_links.c.id)
            )
            claim = await connection.execute(
                claims.insert()
                .values(
                    drop_id=live,
                    guild_id=GUILD,
                    user_id=user_id,
                    display_name="fan",
                    link_id=link.scalar_one(),
                    state=state,
                    claimed_at=NOW,
                    hold_until=NOW,
                )
                .returning(claims.c.id)
            )
            if state == "paid":
                await connection.execute(
                    purchase_followups.insert().values(
                        claim_id=claim.scalar_one(),
                        guild_id=GUILD,
                        user_id=user_id,
                        state="pending",
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )

    readings = await read_gauges(database, NOW)

    assert (readings.reminders_pending, readings.followups_pending) == (2, 1)
    assert readings.overdue_seconds == pytest.approx(600)  # the sent one is not overdue
    [drop] = readings.live_drops
    assert drop.id != scheduled  # a scheduled drop has no series yet
    assert (drop.id, drop.stock, drop.remaining) == (live, 5, 3)
    assert drop.claims == {"held": 1, "paid": 1, "expired": 0, "refunded": 0}
