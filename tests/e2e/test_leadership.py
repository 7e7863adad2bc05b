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
from tests.e2e.test_schedule_restart import states, write_posts
from tests.harness import BotProcess, Community, wait_for

pytestmark = pytest.mark.skipif(
    not on_postgresql(),
    reason="several bot processes share a database only on PostgreSQL (a SQLite file has one)",
)

LEADS = "this process now leads"
# Few enough that the sandbox's channel rate limit (5 posts per 5 s) never delays them.
POSTS = 5


async def test_leader_killed_with_posts_due_another_takes_over_each_posted_once(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    processes = [
        BotProcess(sandbox, database_path, community.guild.id, tmp_path / f"bot{n}.log")
        for n in range(2)
    ]
    identifies = sandbox.stats["identifies"]
    for process in processes:  # started together: the lock decides, not the order
        process.start()
    try:
        await wait_for(
            lambda: sandbox.stats["identifies"] >= identifies + 2, 30, "both bots to connect"
        )
        leading = [process for process in processes if LEADS in process.output()]
        assert len(leading) == 1, "exactly one process leads"
        leader, other = leading[0], next(p for p in processes if p is not leading[0])
        ids = await write_posts(database_path, community, first_in=1.0, spread=2.0, count=POSTS)
        await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 15, "first posts")
        assert LEADS not in other.output(), "only one process leads while the leader lives"
        leader.kill()
        killed_at = time.monotonic()
        before = markers(sandbox.messages(community.drops.id))
        assert 0 < len(before) < POSTS, "the kill should land while posts are still due"

        await wait_for(lambda: LEADS in other.output(), 10, "the other process to take over")
        took_over = time.monotonic() - killed_at
        assert took_over < 2 * POLL_SECONDS + 1, f"took over after {took_over:.1f} s"
        await wait_for(
            lambda: set(markers(sandbox.messages(community.drops.id))) == set(ids),
            10,
            "every post after the takeover",
        )
        await wait_for(
            lambda: states(database_path) == Counter({"sent": POSTS}), 10, "every row sent"
        )
    finally:
        for process in processes:
            if process.process and process.process.poll() is None:
                process.kill()
    counts = Counter(markers(sandbox.messages(community.drops.id)))
    assert counts == Counter({send_id: 1 for send_id in ids}), other.output()
