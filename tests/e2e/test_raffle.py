"""The raffle end to end: commitment before, seed at the draw, winners by anyone's re-run,
losers told kindly, unpaid winners' units passing to the reserves."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from storage.states import Allocation
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    start_drop_day_bot,
)
from tests.harness import Community, build_community, wait_for

HOLD = 6.0


@pytest.fixture
def community(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=6)


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


def rerun_draw(seed: str, user_ids: list[int]) -> list[int]:
    """The draw as product.md states it, written here independently of dropbell's code."""
    return sorted(user_ids, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())


async def test_raffle_draw_is_rerunnable_and_kind(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    # Holds long enough that the test's presses land within one raffle round.
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community, hold=HOLD)
    try:
        drop_id = await drop_opening_in(bot, community, 4, stock=2, allocation=Allocation.RAFFLE)
        fans = community.fans[:6]
        for fan in fans[:5]:  # the sixth joins after the draw
            answer = await sandbox.slash(fan, "waitlist join", {"drop": str(drop_id)})
            assert "in the draw" in answer.content, answer.content
        offsets = bot.services.schedule.config.offsets.reminders
        for fan in fans[:5]:
            await bot.services.drops.toggle_reminder(community.guild.id, drop_id, fan.id, offsets)
        before = await sandbox.slash(community.manager, "drop show", {"drop": str(drop_id)})
        raffle = next(f for f in before.embeds[0]["fields"] if f["name"] == "Raffle")["value"]
        commitment = raffle.split("`")[1]
        assert len(commitment) == 64 and "seed:" not in raffle

        post = await opening_post(sandbox, community, drop_id)
        seed = post.content.split("seed: `")[1].split("`")[0]
        assert len(seed) == 64 and seed == seed.lower()
        assert hashlib.sha256(seed.encode()).hexdigest() == commitment
        order = rerun_draw(seed, [fan.id for fan in fans[:5]])
        by_id = {fan.id: fan for fan in fans}
        winners, reserves = order[:2], order[2:]

        for user in winners:
            got = await sandbox.click(by_id[user], post, f"dropbell:claim:{drop_id}")
            assert link_url(got.components) is not None, got.content
        lost = await sandbox.click(by_id[reserves[0]], post, f"dropbell:claim:{drop_id}")
        assert link_url(lost.components) is None
        assert "did not win" in lost.content and "reserve #1" in lost.content
        late = await sandbox.click(fans[5], post, f"dropbell:claim:{drop_id}")
        assert "were not on it" in late.content

        # Opted-in entrants hear their result by DM; the others see it in /waitlist status.
        await wait_for(
            lambda: all(any("raffle" in m.content for m in sandbox.dms(user)) for user in order),
            timeout=10,
            what="raffle result DMs",
        )
        for user in winners:
            assert any("You won" in m.content for m in sandbox.dms(user))
        assert any("reserve #3" in m.content for m in sandbox.dms(reserves[2]))
        status = await sandbox.slash(by_id[reserves[1]], "waitlist status", {})
        assert "reserve #2" in status.content

        # The winners do not pay: after their holds and a round, the units pass on in order.
        await wait_for(_window(bot, drop_id, 4), timeout=4 * HOLD + 10, what="a round")
        promoted = await sandbox.click(by_id[reserves[0]], post, f"dropbell:claim:{drop_id}")
        assert link_url(promoted.components) is not None, promoted.content
        drop = await bot.services.drops.get_any(drop_id)
        counts = await bot.services.drop_day.counts(drop_id)
        assert drop is not None and counts.held + counts.paid + drop.remaining == 2  # the stock
    finally:
        await runner.stop()


def _window(bot: Dropbell, drop_id: int, at_least: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        drop = await bot.services.drops.get_any(drop_id)
        return drop is not None and drop.claim_window >= at_least

    return check
