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

FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))


class FailingDatabase(Database):
    """A real SQLite database whose batch writes fail while ``failing`` is set."""

    failing = False

    async def run_write(self, work: Callable[[Any], Any]) -> Any:
        if self.failing:
            raise RuntimeError("disk on fire")
        return await super().run_write(work)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[FailingDatabase]:
    database = FailingDatabase(f"sqlite+aiosqlite:///{tmp_path / 'joins.db'}")
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
