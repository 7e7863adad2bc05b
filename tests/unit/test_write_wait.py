"""``Database.run_write(work, wait)``: a fan's write gives up in time when the database is
locked, by another process (SQLite's file lock) or by a long write of this one, writing nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from storage.engine import Database, DatabaseBusy


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'wait.db'}")
    await database.run_write(lambda c: c.execute(text("CREATE TABLE t (x INTEGER)")))
    yield database
    await database.dispose()


def insert(connection: Connection) -> int:
    connection.execute(text("INSERT INTO t VALUES (1)"))
    return 1


def count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])


async def test_another_process_holding_the_lock_makes_a_bounded_write_give_up(
    database: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "wait.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(DatabaseBusy):
        await database.run_write(insert, wait=0.3)
    assert 0.25 < time.monotonic() - started < 2.0
    other.execute("ROLLBACK")
    other.close()
    assert count(tmp_path / "wait.db") == 0
    # Released: the same write goes through, and the next one needs no wait at all.
    assert await database.run_write(insert, wait=0.3) == 1
    assert count(tmp_path / "wait.db") == 1


async def test_a_long_write_of_this_process_makes_a_bounded_write_give_up(
    database: Database, tmp_path: Path
) -> None:
    async def long_write() -> None:
        async with database.write() as connection:
            await connection.execute(text("INSERT INTO t VALUES (2)"))
            await asyncio.sleep(0.6)

    holder = asyncio.create_task(long_write())
    await asyncio.sleep(0.05)
    with pytest.raises(DatabaseBusy):
        await database.run_write(insert, wait=0.2)
    await holder
    assert count(tmp_path / "wait.db") == 1  # the long write's row only
    assert await database.run_write(insert) == 1
