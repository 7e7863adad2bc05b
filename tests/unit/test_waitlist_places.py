"""Places in line from counters and departures (no count of the line) agree with the line
itself, whatever the order of joins, repeat clicks and leaves."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.events import DropEvents
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url, drop_database

FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
RUNS = itertools.count()

# ("join" | "leave", fan): fans 0..7 on one drop, in any order, in batches.
steps = st.lists(
    st.lists(st.tuples(st.sampled_from(["join", "leave"]), st.integers(0, 7)), max_size=6),
    max_size=8,
)


async def play(path: Path, batches: list[list[tuple[str, int]]]) -> None:
    database = Database(database_url(path))
    await upgrade(database)
    try:
        service = DropService(database, DropEvents())
        drop = await service.create(
            1, 9, DropSpec("Moth", datetime.now(UTC) + timedelta(days=1), "UTC", 5)
        )
        line: list[int] = []  # the model: fans in join order
        for batch in batches:
            joins = [fan for action, fan in batch if action == "join"]
            # Joins arrive together, so they share a group commit, as in a burst.
            answers = await asyncio.gather(
                *(service.join(1, drop.id, fan, f"fan{fan}", FAN) for fan in joins)
            )
            for fan in joins:
                if fan not in line:
                    line.append(fan)
            for fan, answer in zip(joins, answers, strict=True):
                assert (answer.place, answer.total) == (line.index(fan) + 1, len(line))
            for action, fan in batch:
                if action == "leave" and fan in line:
                    await service.leave(1, drop.id, fan)
                    line.remove(fan)
            assert await service.waitlist_count(drop.id) == len(line)
            for fan in line:
                [entry] = await service.fan_entries(1, fan)
                assert (entry.place, entry.total) == (line.index(fan) + 1, len(line))
    finally:
        await database.dispose()


@settings(max_examples=25, deadline=None)
@given(steps)
def test_places_match_the_line(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[str, int]]]
) -> None:
    path = tmp_path_factory.mktemp("places") / f"run{next(RUNS)}.db"
    try:
        asyncio.run(play(path, batches))
    finally:
        drop_database(path)  # one database per example: not kept until the test's end
