"""Joins written by several bot processes at once (each its own engine on one database) still
hand out every sequence number once and keep the line's counters exact.

On SQLite the processes take turns at the file's write lock; on PostgreSQL (the scale-out
engine) their transactions run side by side, and the join batch's drop row lock is what keeps
two batches from reading the same counters.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.events import DropEvents
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url, query

FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
PROCESSES = 4
FANS_EACH = 40


async def test_concurrent_join_batches_from_several_engines_number_the_line_once(
    tmp_path: Path,
) -> None:
    url = database_url(tmp_path / "line.db")
    databases = [Database(url) for _ in range(PROCESSES)]
    try:
        await upgrade(databases[0])
        services = [DropService(database, DropEvents()) for database in databases]
        starts = datetime.now(UTC) + timedelta(days=1)
        drop = await services[0].create(1, 9, DropSpec("Moth", starts, "UTC", 5))
        fans = [(index, 1000 * index + n) for index in range(PROCESSES) for n in range(FANS_EACH)]
        answers = await asyncio.gather(
            *(services[index].join(1, drop.id, fan, f"fan{fan}", FAN) for index, fan in fans)
        )
    finally:
        for database in databases:
            await database.dispose()
    total = PROCESSES * FANS_EACH
    seqs = [seq for (seq,) in query(tmp_path / "line.db", "SELECT seq FROM waitlist_entries")]
    assert sorted(seqs) == list(range(1, total + 1)), "a sequence number handed out twice"
    ((size, handed_out),) = query(
        tmp_path / "line.db",
        "SELECT waitlist_size, waitlist_seq FROM drops WHERE id = :id",
        id=drop.id,
    )
    assert (size, handed_out) == (total, total)
    assert sorted(answer.place for answer in answers) == list(range(1, total + 1))
