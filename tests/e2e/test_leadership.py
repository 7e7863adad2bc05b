"""Several bot processes on one PostgreSQL database: exactly one sends, and another takes over
within seconds when it is killed (kill -9: no clean-up of any kind)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from sandbox import Sandbox
from services.leadership import POLL_SECONDS
from tests.databases import on_postgresql
from tests.e2e.test_schedule import markers
from tests.e2e.test_schedule_restart import POSTS, started, states, write_posts
from tests.harness import BotProcess, Community, wait_for

pytestmark = pytest.mark.skipif(
    not on_postgresql(),
    reason="several bot processes share a database only on PostgreSQL (a SQLite file has one)",
)

LEADS = "this process now leads"


async def test_leader_killed_with_posts_due_another_takes_over_each_posted_once(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    first = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "first.log")
    second = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "second.log")
    await started(sandbox, first, sandbox.stats["identifies"])
    await wait_for(lambda: LEADS in first.output(), 15, "the first process to lead")
    await started(sandbox, second, sandbox.stats["identifies"])
    try:
        ids = await write_posts(database_path, community, first_in=2.0, spread=3.0)
        await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 15, "first posts")
        assert LEADS not in second.output(), "only one process leads while the first lives"
        first.kill()
        killed_at = time.monotonic()
        before = markers(sandbox.messages(community.drops.id))
        assert 0 < len(before) < POSTS, "the kill should land while posts are still due"

        await wait_for(lambda: LEADS in second.output(), 10, "the second process to take over")
        took_over = time.monotonic() - killed_at
        assert took_over < 3 * POLL_SECONDS + 1, f"took over after {took_over:.1f} s"
        await wait_for(
            lambda: set(markers(sandbox.messages(community.drops.id))) == set(ids),
            15,
            "every post after the takeover",
        )
        await wait_for(
            lambda: states(database_path) == Counter({"sent": POSTS}), 15, "every row sent"
        )
    finally:
        if first.process and first.process.poll() is None:
            first.kill()
        assert await second.terminate() == 0, second.output()
    counts = Counter(markers(sandbox.messages(community.drops.id)))
    assert counts == Counter({send_id: 1 for send_id in ids}), second.output()
