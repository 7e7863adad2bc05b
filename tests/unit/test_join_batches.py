"""A join batch that fails is logged once; every fan in it gets the sentence with its id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.errors import LoggedFailure
from services.events import DropEvents
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url, sqlite_only

FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))


class FailingDatabase(Database):
    """A real SQLite database whose batch writes fail while ``failing`` is set."""

    failing = False

    async def run_write(self, work: Callable[[Any], Any], wait: float | None = None) -> Any:
        if self.failing:
            raise RuntimeError("disk on fire")
        return await super().run_write(work, wait)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[FailingDatabase]:
    database = FailingDatabase(database_url(tmp_path / "joins.db"))
    await upgrade(database)
    yield database
    await database.dispose()


async def test_failed_batch_logs_once_and_answers_everyone(
    database: FailingDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    service = DropService(database, DropEvents())
    soon = datetime.now(UTC) + timedelta(days=1)
    drop = await service.create(1, 9, DropSpec("Moth", soon, "UTC", 5))
    database.failing = True
    with caplog.at_level(logging.ERROR, logger="dropbell.joins"):
        outcomes = await asyncio.gather(
            *(service.join(1, drop.id, user, f"fan{user}", FAN) for user in range(20)),
            return_exceptions=True,
        )
    failures = [outcome for outcome in outcomes if isinstance(outcome, LoggedFailure)]
    assert len(failures) == len(outcomes)
    # One batch took all 20 (they arrived together): one log line, with the traceback...
    records = [r for r in caplog.records if r.name == "dropbell.joins"]
    assert len(records) == 1 and records[0].exc_info is not None
    # ...and every fan is told the id that finds it.
    error_id = failures[0].error_id
    assert f"error {error_id}" in records[0].getMessage()
    assert all(f"(error {error_id})" in failure.sentence for failure in failures)
    database.failing = False
    assert await service.waitlist_count(drop.id) == 0
    joined = await service.join(1, drop.id, 1, "fan1", FAN)
    assert (joined.place, joined.already) == (1, False)


async def test_driver_statements_convert_as_sqlalchemy_does(database: FailingDatabase) -> None:
    """The join writer runs its statements on the sqlite3 driver; what it stores and reads back
    (dates above all) is what SQLAlchemy itself stores and reads."""
    from sqlalchemy import bindparam, select

    from storage.engine import DriverStatement
    from storage.tables import waitlist_entries

    service = DropService(database, DropEvents())
    drop = await service.create(
        1, 9, DropSpec("Moth", datetime.now(UTC) + timedelta(days=1), "UTC", 5)
    )
    when = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    insert = DriverStatement(
        waitlist_entries.insert().values(
            {
                name: bindparam(name)
                for name in ("drop_id", "guild_id", "user_id", "display_name", "joined_at", "seq")
            }
        )
    )
    read = DriverStatement(
        select(waitlist_entries.c.user_id, waitlist_entries.c.joined_at).where(
            waitlist_entries.c.drop_id == bindparam("drop_id")
        )
    )
    rows = [
        {
            "drop_id": drop.id,
            "guild_id": 1,
            "user_id": user,
            "display_name": "fan",
            "joined_at": when,
            "seq": user,
        }
        for user in (1, 2)
    ]
    await database.run_write(lambda connection: insert.run(connection, rows))
    # SQLAlchemy writes the third the usual way.
    async with database.write() as connection:
        await connection.execute(
            waitlist_entries.insert().values(
                drop_id=drop.id, guild_id=1, user_id=3, display_name="fan", joined_at=when, seq=3
            )
        )
        raw = (
            await connection.exec_driver_sql("SELECT DISTINCT joined_at FROM waitlist_entries")
        ).all()
        through_sqlalchemy = (
            (await connection.execute(select(waitlist_entries.c.joined_at))).scalars().all()
        )
    assert len(raw) == 1  # the same text in the file, whoever wrote it
    assert through_sqlalchemy == [when] * 3
    driver_rows = await database.run_write(
        lambda connection: read.rows(connection, {"drop_id": drop.id})
    )
    assert sorted(driver_rows) == [(1, when), (2, when), (3, when)]


async def test_a_batch_finds_fans_already_on_the_line_whatever_its_size(
    database: FailingDatabase,
) -> None:
    service = DropService(database, DropEvents())
    drop = await service.create(
        1, 9, DropSpec("Moth", datetime.now(UTC) + timedelta(days=1), "UTC", 5)
    )
    await asyncio.gather(*(service.join(1, drop.id, user, f"fan{user}", FAN) for user in range(5)))
    # 11 presses in one batch (a size class of 16): 5 again, 6 new, one of them twice.
    again = await asyncio.gather(
        *(service.join(1, drop.id, user, f"fan{user}", FAN) for user in [*range(10), 7])
    )
    assert [(joined.place, joined.already) for joined in again] == [
        *((place, True) for place in range(1, 6)),
        *((place, False) for place in range(6, 11)),
        (8, True),
    ]
    assert {joined.total for joined in again} == {10}


@sqlite_only
async def test_a_join_waits_off_the_event_loop_while_another_process_writes(
    database: FailingDatabase, tmp_path: Path
) -> None:
    """Batches are written on the event loop's thread when the write lock is free; if another
    process holds it, the batch waits on the writer thread and the loop keeps turning."""
    import sqlite3

    service = DropService(database, DropEvents())
    drop = await service.create(
        1, 9, DropSpec("Moth", datetime.now(UTC) + timedelta(days=1), "UTC", 5)
    )
    assert (await service.join(1, drop.id, 1, "fan1", FAN)).place == 1
    other = sqlite3.connect(tmp_path / "joins.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        waiting = asyncio.create_task(service.join(1, drop.id, 2, "fan2", FAN))
        for _ in range(5):
            await asyncio.sleep(0.02)  # would never return if the loop waited for the lock
        assert not waiting.done()
    finally:
        other.execute("COMMIT")
        other.close()
    joined = await asyncio.wait_for(waiting, 10)
    assert (joined.place, joined.total, joined.already) == (2, 2, False)
    # And the next batch is written at once again.
    assert (await service.join(1, drop.id, 3, "fan3", FAN)).place == 3
