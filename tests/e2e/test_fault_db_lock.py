"""The fault suite, part 3: the database locked or slow while fans press Join and Get my link.

Another connection holds SQLite's write lock (``BEGIN EXCLUSIVE``, as a backup tool or a
long manual query would). Held longer than a fan's write may wait, every fan still gets one
clear sentence inside Discord's 3 seconds (press again), and nothing of theirs is written;
once it is released everything works and the file is intact. Held a little less, the answers
are the normal ones, still in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import InteractionResult, Member, Message, Sandbox
from sandbox.shop.server import SandboxShop
from services.batching import BUSY_SENTENCE, FAN_ANSWER_WITHIN
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    start_drop_day_bot,
)
from tests.e2e.fault_support import rows, sqlite_only
from tests.harness import Community, InProcessBot, build_community

pytestmark = sqlite_only

STOCK = 3
DISCORD_WINDOW = 3.0


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


@pytest.fixture
def crowd(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=8)


@contextlib.asynccontextmanager
async def exclusive_lock(database_path: Path) -> AsyncIterator[None]:
    """Another connection's ``BEGIN EXCLUSIVE``: the write lock until the block ends. Taken
    off the event loop: the bot shares this loop and may be finishing a write meanwhile."""
    connection = sqlite3.connect(
        database_path, isolation_level=None, timeout=10, check_same_thread=False
    )
    try:
        await asyncio.to_thread(connection.execute, "BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


def answered_in(result: InteractionResult) -> float:
    record = result.record
    assert record.callback_at is not None
    return record.callback_at - record.dispatched_at


async def presses(
    sb: Sandbox, fans: list[Member], drop_id: int, post: Message
) -> tuple[list[InteractionResult], list[InteractionResult]]:
    """Each fan presses Join and Get my link at once; (join answers, claim answers)."""
    joins = [sb.slash(fan, "waitlist join", {"drop": str(drop_id)}, timeout=6) for fan in fans]
    claims = [sb.click(fan, post, f"dropbell:claim:{drop_id}", timeout=6) for fan in fans]
    answers = await asyncio.gather(*joins, *claims)
    return answers[: len(fans)], answers[len(fans) :]


async def selling(
    sb: Sandbox, shop: SandboxShop, database_path: Path, crowd: Community
) -> tuple[InProcessBot, int, Message]:
    runner, bot = await start_drop_day_bot(sb, shop, database_path, crowd, hold=60)
    drop_id = await drop_opening_in(bot, crowd, 1, stock=STOCK)
    return runner, drop_id, await opening_post(sb, crowd, drop_id)


def written(database_path: Path, drop_id: int) -> tuple[int, int, int]:
    """(waitlist rows, claims, remaining) of the drop."""
    ((entries,),) = rows(
        database_path, "SELECT count(*) FROM waitlist_entries WHERE drop_id = ?", drop_id
    )
    ((claims,),) = rows(database_path, "SELECT count(*) FROM claims WHERE drop_id = ?", drop_id)
    ((remaining,),) = rows(database_path, "SELECT remaining FROM drops WHERE id = ?", drop_id)
    return int(str(entries)), int(str(claims)), int(str(remaining))


async def test_locked_longer_than_a_fan_may_wait_answers_try_again_in_time_and_writes_nothing(
    sandbox: Sandbox, crowd: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, drop_id, post = await selling(sandbox, shop, database_path, crowd)
    fans = list(crowd.fans[:4])
    try:
        before = written(database_path, drop_id)
        async with exclusive_lock(database_path):
            held_from = time.monotonic()
            joins, claims = await presses(sandbox, fans, drop_id, post)
            # The answers came while the lock was still held (it is, until this block ends).
            assert time.monotonic() - held_from < FAN_ANSWER_WITHIN + 1.5
        for answer in [*joins, *claims]:
            assert answer.ephemeral
            assert answer.content == BUSY_SENTENCE, answer.content
            assert answered_in(answer) < DISCORD_WINDOW, answered_in(answer)
            assert link_url(answer.components) is None
        # Nothing half-written: no entry, no claim, no unit taken.
        assert written(database_path, drop_id) == before

        # Released: the same presses work.
        joins, claims = await presses(sandbox, fans, drop_id, post)
        assert all("on the list" in a.content or "You're" in a.content for a in joins), [
            a.content for a in joins
        ]
        links = [link_url(a.components) for a in claims]
        assert sum(url is not None for url in links) == STOCK
        entries, claimed, remaining = written(database_path, drop_id)
        assert (entries, claimed, remaining) == (len(fans), STOCK, 0)
        assert rows(database_path, "PRAGMA integrity_check") == [("ok",)]
    finally:
        await runner.stop()


async def test_locked_a_little_less_than_a_fan_may_wait_answers_normally_in_time(
    sandbox: Sandbox, crowd: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, drop_id, post = await selling(sandbox, shop, database_path, crowd)
    fans = list(crowd.fans[:2])
    try:

        async def locked_for_a_while() -> None:
            async with exclusive_lock(database_path):
                locked.set()
                await asyncio.sleep(FAN_ANSWER_WITHIN * 0.6)

        locked = asyncio.Event()
        holder = asyncio.create_task(locked_for_a_while())
        await locked.wait()
        joins, claims = await presses(sandbox, fans, drop_id, post)
        await holder
        for answer in joins:
            assert answer.content.startswith("You're"), answer.content
        for answer in claims:
            assert link_url(answer.components) is not None, answer.content
        for answer in [*joins, *claims]:
            # They waited for the lock (it was held for most of the fan's wait), and still
            # came in time.
            assert FAN_ANSWER_WITHIN * 0.5 < answered_in(answer) < DISCORD_WINDOW
        assert written(database_path, drop_id) == (len(fans), len(fans), STOCK - len(fans))
        assert rows(database_path, "PRAGMA integrity_check") == [("ok",)]
    finally:
        await runner.stop()
