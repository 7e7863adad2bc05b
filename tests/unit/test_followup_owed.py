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
from storage.followups import FollowupStore, NextDrop, owe_followup
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


async def _owe(database: Database, paid: Applied) -> bool:
    return await database.run_write(lambda connection: owe_followup(connection, paid, NOW))


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

    def paid(claim_id: int, user_id: int) -> Applied:
        return Applied(Outcome.PAID, claim_id, bought, user_id)

    assert await _owe(database, paid(opted_claim, OPTED)) is True
    assert await _owe(database, paid(opted_claim, OPTED)) is False  # once per purchase
    assert await _owe(database, paid(other_claim, NOT_OPTED)) is False  # not opted in
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


async def test_a_dm_is_claimed_once_and_not_after_a_refund(database: Database) -> None:
    service = DropService(database, DropEvents())
    bought = await _drop(service, GUILD, "Night Moth Tee", 1)
    following = await _drop(service, GUILD, "Luna Cap", 4)
    store = FollowupStore(database)
    claim_ids = []
    async with database.write() as connection:
        for user_id in (OPTED, NOT_OPTED):
            await connection.execute(
                reminder_optins.insert().values(
                    drop_id=bought, user_id=user_id, guild_id=GUILD, created_at=NOW
                )
            )
    for user_id in (OPTED, NOT_OPTED):
        claim_id = await _claim(database, bought, user_id)
        assert await _owe(database, Applied(Outcome.PAID, claim_id, bought, user_id))
        claim_ids.append(claim_id)
    kept, refunded = claim_ids
    async with database.write() as connection:
        await connection.execute(
            claims.update().where(claims.c.id == refunded).values(state="refunded")
        )

    claimed = await store.claim(kept)
    assert claimed is not None and claimed.next_drop == NextDrop(following, "Luna Cap")
    assert (claimed.drop_name, claimed.user_id, claimed.attempts) == ("Night Moth Tee", OPTED, 1)
    assert await store.claim(kept) is None  # sending already: a second claim gets nothing
    assert await store.claim(refunded) is None
    assert await store.state_of(kept) == ("sending", None)
    assert await store.state_of(refunded) == ("skipped", None)
