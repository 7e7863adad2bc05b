"""The fault suite, part 2: the gateway drops in the middle of a join burst.

Thirty fans press Join while the sandbox closes the bot's websocket a third of the way in (a
close that discord.py RESUMEs, a cut TCP connection, or a session Discord invalidates, after
which the bot IDENTIFYs afresh and what was sent meanwhile is lost, as on Discord). Every
interaction the bot acknowledged, by the sandbox's own record, is a waitlist row; no fan is on
the line twice; no interaction was acknowledged twice; and the bot serves after.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import PRICE, drop_opening_in, start_drop_day_bot
from tests.e2e.fault_support import acknowledged_since, interaction_tokens, rows
from tests.harness import Community, build_community, wait_for

FANS = 30
DROP_AFTER = FANS // 3


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


@pytest.fixture
def crowd(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=FANS)


async def cut(sb: Sandbox, how: str) -> None:
    if how == "resume":
        await sb.drop_gateway(4000)
    elif how == "tcp":
        await sb.drop_gateway(None)
    else:
        await sb.invalidate_session(resumable=False)


@pytest.mark.parametrize("how", ["resume", "tcp", "invalidated"])
async def test_gateway_dropped_mid_join_burst_keeps_every_acknowledged_join_once(
    how: str, sandbox: Sandbox, crowd: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, crowd)
    try:
        drop_id = await drop_opening_in(bot, crowd, 600, stock=5)
        rng = random.Random(14)
        fans = list(crowd.fans)
        rng.shuffle(fans)
        before = interaction_tokens(sandbox)

        async def join(index: int) -> None:
            await asyncio.sleep(index * 0.01)
            if index == DROP_AFTER:
                await cut(sandbox, how)
            # No answer (lost with the connection, or too late): not acknowledged, fine.
            with contextlib.suppress(TimeoutError):
                await sandbox.slash(
                    fans[index], "waitlist join", {"drop": str(drop_id)}, timeout=3.5
                )

        await asyncio.gather(*(join(i) for i in range(FANS)))
        acked = acknowledged_since(sandbox, before)
        ids = Counter(rec.id for rec in acked)
        assert all(count == 1 for count in ids.values())
        users = Counter(rec.user_id for rec in acked)
        assert all(count == 1 for count in users.values()), users
        for rec in acked:
            assert rec.original is not None and rec.original.content.startswith("You're"), (
                rec.original
            )
        await bot.services.drops.joins_idle()
        line = Counter(
            int(str(user))
            for (user,) in rows(
                database_path, "SELECT user_id FROM waitlist_entries WHERE drop_id = ?", drop_id
            )
        )
        assert all(count == 1 for count in line.values()), line
        assert set(users) <= set(line), set(users) - set(line)
        # Some joins went through the cut: the burst was not over before it.
        assert len(users) >= DROP_AFTER

        # The bot serves after: a fan who got no answer presses again and joins.
        if how == "invalidated":
            await wait_for(lambda: sandbox.stats["identifies"] >= 2, 10, "a new session")
            await sandbox.wait_for_bot(timeout=10)
        else:
            assert sandbox.stats["drops"] == 1
            await sandbox.wait_for_resume(timeout=10)
        missing = [fan for fan in fans if fan.user.id not in users]
        for fan in missing[:3]:
            again = await sandbox.slash(fan, "waitlist join", {"drop": str(drop_id)}, timeout=10)
            assert again.content.startswith("You're"), again.content
    finally:
        await runner.stop()
