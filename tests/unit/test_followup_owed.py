"""Which purchases owe a thank-you DM, and which drop it offers, against a real SQLite file (the
end-to-end tests in tests/e2e/test_purchase_followup.py go through the sandbox and its shop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from storage.collector_tables import purchase_followups
from storage.engine import Database
from storage.followups import owe_followup
from storage.migrate import upgrade
from storage.orders import Applied, Outcome
from storage.tables import claim_links, claims, reminder_optins

NOW = datetime.now(UTC)
GUILD, OTHER_GUILD = 1, 2
OPTED, NOT_OPTED = 501, 502


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'followups.db'}")
    await upgrade(db)
    yield db
    await db.dispose()


async def _drop(service: DropService, guild: int, name: str, days: float) -> int:
    spec = DropSpec(name, NOW + timedelta(days=days), "UTC", 5)
    return (await service.create(guild, 99, spec)).id


async def _claim(database: Database, drop_id: int, user_id: int) -> int:
    async with database.write() as connection:
        link = await connection.execute(
            claim_links.insert()
            .values(
                drop_id=drop_id,
                shop="sandbox",
                claim_ref=f"ref-{user_id}",
                link_ref=f"cs_{user_id}",
                state="taken",
                created_at=NOW,
            )
            .returning(claim_links.c.id)
        )
        claim = await connection.execute(
            claims.insert()
            .values(
                drop_id=drop_id,
                guild_id=GUILD,
                user_id=user_id,
                display_name=f"fan{user_id}",
                link_id=link.scalar_one(),
                state="paid",
                claimed_at=NOW,
                hold_until=NOW + timedelta(minutes=15),
            )
            .returning(claims.c.id)
        )
        return int(claim.scalar_one())


async def test_an_opted_in_purchase_owes_one_dm_offering_the_next_scheduled_drop(
    database: Database,
) -> None:
    service = DropService(database, DropEvents())
    bought = await _drop(service, GUILD, "Night Moth Tee", 1)
    later = await _drop(service, GUILD, "Luna Cap", 5)
    sooner = await _drop(service, GUILD, "Moth Pin", 3)
    cancelled = await _drop(service, GUILD, "Moth Scarf", 2)
    await service.cancel(GUILD, cancelled)
    await _drop(service, OTHER_GUILD, "Elsewhere", 1)  # another server's drop is not offered
    async with database.write() as connection:
        await connection.execute(
            reminder_optins.insert().values(
                drop_id=bought, user_id=OPTED, guild_id=GUILD, created_at=NOW
            )
        )
    opted_claim = await _claim(database, bought, OPTED)
    other_claim = await _claim(database, bought, NOT_OPTED)

    async def owe(claim_id: int, user_id: int) -> bool:
        paid = Applied(Outcome.PAID, claim_id, bought, user_id)
        return await database.run_write(lambda connection: owe_followup(connection, paid, NOW))

    assert await owe(opted_claim, OPTED) is True
    assert await owe(opted_claim, OPTED) is False  # once per purchase
    assert await owe(other_claim, NOT_OPTED) is False  # not opted in: nothing owed
    async with database.read() as connection:
        rows = (
            await connection.execute(
                select(
                    purchase_followups.c.claim_id,
                    purchase_followups.c.user_id,
                    purchase_followups.c.state,
                    purchase_followups.c.next_drop_id,
                )
            )
        ).all()
    # The earliest scheduled drop still to come in this server: not the later one, not the
    # cancelled one, not another server's.
    assert [tuple(row) for row in rows] == [(opted_claim, OPTED, "pending", sooner)]
    assert later != sooner
