"""Exactly once across a real ``kill -9`` and a graceful SIGTERM: dropbell as a child process."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sandbox import Sandbox
from services.localtime import utcnow
from storage.engine import Database
from storage.migrate import upgrade
from storage.schedule import SendStore
from tests.databases import database_url, query
from tests.e2e.test_schedule import markers
from tests.harness import BotProcess, Community, wait_for

POSTS = 16


async def write_posts(
    database_path: Path, community: Community, first_in: float, spread: float, count: int = POSTS
) -> list[int]:
    database = Database(database_url(database_path))
    await upgrade(database)
    store = SendStore(database)
    first = utcnow() + timedelta(seconds=first_in)
    ids = []
    try:
        for i in range(count):
            row = await store.insert(
                guild_id=community.guild.id,
                kind="announcement",
                channel_id=community.drops.id,
                due_at=first + timedelta(seconds=spread * i / (count - 1)),
                message=f"Post {i}",
                timezone="UTC",
            )
            ids.append(row.id)
    finally:
        await database.dispose()
    return ids


async def started(sandbox: Sandbox, process: BotProcess, identifies: int) -> None:
    process.start()
    await wait_for(lambda: sandbox.stats["identifies"] > identifies, 20, "the bot to connect")


def states(database_path: Path) -> Counter[str]:
    return Counter(state for (state,) in query(database_path, "SELECT state FROM scheduled_sends"))


async def test_kill_9_while_posts_are_due_then_restart_posts_each_once(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    ids = await write_posts(database_path, community, first_in=2.5, spread=2.0)
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    await started(sandbox, process, sandbox.stats["identifies"])
    await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 15, "the first posts")
    process.kill()  # SIGKILL: no clean-up of any kind
    before = markers(sandbox.messages(community.drops.id))
    assert 0 < len(before) < POSTS, "the kill should land while posts are still due"

    await started(sandbox, process, sandbox.stats["identifies"])
    try:
        await wait_for(
            lambda: set(markers(sandbox.messages(community.drops.id))) == set(ids),
            15,
            "every post after the restart",
        )
        # Every row recorded as sent: nothing is left that could post again.
        await wait_for(
            lambda: states(database_path) == Counter({"sent": POSTS}), 15, "every row sent"
        )
    finally:
        assert await process.terminate() == 0, process.output()
    counts = Counter(markers(sandbox.messages(community.drops.id)))
    assert counts == Counter({send_id: 1 for send_id in ids}), process.output()
    assert states(database_path) == Counter({"sent": POSTS})


async def test_sigterm_exits_zero_and_leaves_unsent_rows_pending(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    await write_posts(database_path, community, first_in=120, spread=10)
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    await started(sandbox, process, sandbox.stats["identifies"])
    await sandbox.wait_for_bot()
    # A command answered: start-up is over (setup_hook started the schedule) and it serves.
    about = await sandbox.slash(community.fans[0], "dropbell about", timeout=10)
    assert "dropbell" in about.content
    assert await process.terminate() == 0, process.output()
    assert states(database_path) == Counter({"pending": POSTS})
    assert markers(sandbox.messages(community.drops.id)) == []
