"""The follow-up sender's failure paths, on a real SQLite file with a stand-in for its outbox
(our own protocol, services.followups.service.FollowupOutbox; the happy path and 50007 on send
run end to end in tests/e2e/test_purchase_followup.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from services.followups.service import PurchaseFollowups
from services.schedule.dm_queue import DMQueue
from services.schedule.outbox import SendFailed, Unreachable
from storage.engine import Database
from storage.followups import FollowupStore, owe_followup
from storage.migrate import upgrade
from storage.orders import Applied, Outcome
from storage.reminders import ReminderStore
from storage.tables import claim_links, claims, dm_unreachable, reminder_optins
from tests.harness import wait_for

NOW = datetime.now(UTC)
GUILD, FAN, CHANNEL = 1, 501, 9001


class StandInOutbox:
    """Records what would reach Discord; raises what a test sets."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.sent: list[tuple[int, str]] = []
        self.history_error: SendFailed | None = None
        self.open_error: SendFailed | None = None

    def server_name(self, guild_id: int) -> str | None:
        return "Night Moth Club"

    async def open_dm(self, user_id: int) -> int:
        if self.open_error is not None:
            raise self.open_error
        self.opened.append(user_id)
        return CHANNEL

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None:
        if self.history_error is not None:
            raise self.history_error
        return next((1 + n for n, (_, text) in enumerate(self.sent) if pattern.search(text)), None)

    async def thank(self, channel_id: int, content: str, join: tuple[int, str] | None) -> int:
        self.sent.append((channel_id, content))
        return len(self.sent)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'sender.db'}")
    await upgrade(db)
    yield db
    await db.dispose()


async def _owed(database: Database) -> int:
    """A paid claim of an opted-in fan, owing its follow-up: the claim id."""
    service = DropService(database, DropEvents())
    drop = await service.create(
        GUILD, 99, DropSpec("Night Moth Tee", NOW + timedelta(days=1), "UTC", 5)
    )
    async with database.write() as connection:
        await connection.execute(
            reminder_optins.insert().values(
                drop_id=drop.id, user_id=FAN, guild_id=GUILD, created_at=NOW
            )
        )
        link = await connection.execute(
            claim_links.insert()
            .values(drop_id=drop.id, shop="sandbox", claim_ref="r1", state="taken", created_at=NOW)
            .returning(claim_links.c.id)
        )
        claim = await connection.execute(
            claims.insert()
            .values(
                drop_id=drop.id,
                guild_id=GUILD,
                user_id=FAN,
                display_name="fan",
                link_id=link.scalar_one(),
                state="paid",
                claimed_at=NOW,
                hold_until=NOW,
            )
            .returning(claims.c.id)
        )
        claim_id = int(claim.scalar_one())
    paid = Applied(Outcome.PAID, claim_id, drop.id, FAN)
    assert await database.run_write(lambda connection: owe_followup(connection, paid, NOW))
    return claim_id


def _sender(database: Database) -> PurchaseFollowups:
    reminders = ReminderStore(database)
    queue = DMQueue(reminders, lambda drop_id: _no_drop(), per_second=100, opens_per_second=100)
    return PurchaseFollowups(FollowupStore(database), reminders, queue)


async def _no_drop() -> None:
    return None


async def test_a_dm_left_sending_whose_dms_cannot_be_read_is_uncertain_never_resent(
    database: Database,
) -> None:
    claim_id = await _owed(database)
    store = FollowupStore(database)
    assert await store.claim(claim_id) is not None  # a crash after this: "sending"
    await ReminderStore(database).remember_dm_channel(FAN, CHANNEL)
    outbox = StandInOutbox()
    outbox.history_error = SendFailed("Missing Access", permanent=True, code=50001)
    sender = _sender(database)
    await sender.start(outbox)
    try:
        await sender.wait_started()
        assert await store.state_of(claim_id) == ("uncertain", None)
    finally:
        await sender.stop()
    assert outbox.sent == []


async def test_closed_dms_found_when_opening_the_channel_are_recorded(database: Database) -> None:
    claim_id = await _owed(database)
    outbox = StandInOutbox()
    outbox.open_error = Unreachable("Cannot send messages to this user")
    sender = _sender(database)
    await sender.start(outbox)
    try:
        store = FollowupStore(database)

        async def settled() -> bool:
            return await store.state_of(claim_id) == ("unreachable", None)

        await wait_for(settled, what="the follow-up marked unreachable")
        async with database.read() as connection:
            codes = (await connection.execute(select(dm_unreachable.c.code))).scalars().all()
        assert list(codes) == [50007] and outbox.sent == []
    finally:
        await sender.stop()
