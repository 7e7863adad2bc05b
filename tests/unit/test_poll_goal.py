"""The goal is reached once: batch after batch past the goal, one goal send is written, in the
transaction of the batch that reached it; commitments and counters stay exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from services.localtime import utcnow
from services.polls.wording import goal_text
from storage.engine import Database
from storage.migrate import upgrade
from storage.poll_commits import CommitRequest, PollClosed, write_commit_batch
from storage.polls import PollStore
from storage.tables import scheduled_sends
from tests.databases import database_url

GUILD = 1


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url(tmp_path / "polls.db"))
    await upgrade(database)
    yield database
    await database.dispose()


async def goal_sends(database: Database) -> list[str]:
    async with database.read() as connection:
        rows = await connection.execute(
            select(scheduled_sends.c.message).where(scheduled_sends.c.kind == "poll_goal")
        )
        return [str(message) for (message,) in rows]


async def test_goal_send_written_once_by_the_batch_that_reaches_it(database: Database) -> None:
    store = PollStore(database)
    poll, _ = await store.create(
        options=[("A", 100), ("B", None)],
        created_at=utcnow(),
        guild_id=GUILD,
        question="Q?",
        goal=10,
        closes_at=utcnow() + timedelta(days=1),
        timezone="UTC",
        channel_id=5,
        created_by=9,
    )
    user = 0
    for _ in range(8):  # 8 batches of 3 fans x 2 units: the goal (10) falls in batch 2
        batch = []
        for _ in range(3):
            user += 1
            batch.append(CommitRequest(GUILD, poll.id, user % 2, user, f"fan{user}", 2))
        written = await database.run_write(partial(write_commit_batch, batch, goal_text, utcnow()))
        assert len(written.outcomes) == 3
        assert len(written.goal_sends) == (1 if user == 6 else 0)
    assert await goal_sends(database) == [
        "🎯 The pre-order poll **Q?** reached its goal: 12 units committed (goal 10). It stays "
        f"open until <t:{int(poll.closes_at.timestamp())}:F>."
    ]
    options = await store.options(poll.id)
    assert [(o.units, o.fans) for o in options] == [(24, 12), (24, 12)]
    # After closing, a press is refused and changes nothing.
    await store.close(poll.id, utcnow())
    written = await database.run_write(
        partial(
            write_commit_batch, [CommitRequest(GUILD, poll.id, 0, 1, "x", 5)], goal_text, utcnow()
        )
    )
    assert isinstance(written.outcomes[0], PollClosed)
    assert [(o.units, o.fans) for o in await store.options(poll.id)] == [(24, 12), (24, 12)]
