"""`waitlist-order` waves end to end: during early access the line is let in by place, a wave
of ``stock`` places at a time, the waves spread evenly over the window (docs/drop-day.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from services.localtime import utcnow
from tests.e2e.drop_day_support import PRICE, link_url, opening_post, start_drop_day_bot
from tests.harness import Community, build_community, create_drop, drop_id_of, wait_for

# Time compressed by the line's length, not by sleeping: early access is whole minutes, and
# 24 places for 2 units make 12 waves in its 1 minute, one every 5 s.
STOCK, LINE, EARLY_MINUTES = 2, 24, 1
EVERY = timedelta(minutes=EARLY_MINUTES) / (LINE // STOCK)
PLACE = 6  # the last of the third wave: places 1-2 at opening, 3-4 after 5 s, 5-6 after 10 s


@pytest.fixture
def community(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=LINE + 1)


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


async def test_the_line_is_let_in_wave_by_wave(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    # Holds outlast the test, so the units held at the end are the ones the waves let in.
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community, hold=120)
    try:
        announcement = await create_drop(
            sandbox, community, timeout=10, stock=STOCK, allocation="waitlist-order",
            early_access_minutes=EARLY_MINUTES, product=f"sandbox:{PRICE}",
        )  # fmt: skip
        drop_id = drop_id_of(announcement)
        fields = {field["name"]: field["value"] for field in announcement.embeds[0]["fields"]}
        assert fields["Early access"].startswith(
            f"The first {EARLY_MINUTES} minute after opening (until <t:"
        ), fields
        assert fields["Early access"].endswith(
            "): fans on the waitlist, in waves by place; then anyone in the server."
        )
        line, outsider = community.fans[:LINE], community.fans[LINE]
        for place, fan in enumerate(line, start=1):
            joined = await sandbox.click(fan, announcement, f"dropbell:join:{drop_id}")
            assert f"#{place} of" in joined.content, joined.content

        opened = await sandbox.slash(community.manager, "drop open", {"drop": str(drop_id)})
        assert "opens now" in (await opened.wait_final()).text
        post = await opening_post(sandbox, community, drop_id)
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None
        wave_opens = drop.starts_at + (PLACE - 1) // STOCK * EVERY
        claim = f"dropbell:claim:{drop_id}"

        first = await sandbox.click(line[0], post, claim)
        assert link_url(first.components) is not None, first.content
        fan = line[PLACE - 1]
        early = await sandbox.click(fan, post, claim)
        # Pressed before its wave (the opening post comes well within 10 s of the opening).
        assert utcnow() < wave_opens, "the test pressed too late to see the wait"
        assert link_url(early.components) is None
        assert early.content == (
            f"Not your turn yet for **Night Moth Tee**: you are #{PLACE} in line, and your "
            f"wave opens <t:{int(wave_opens.timestamp())}:R>. Press **Get my link** again then."
        )
        # Not on the line at all: only after the whole early window.
        window_ends = drop.starts_at + timedelta(minutes=EARLY_MINUTES)
        stranger = await sandbox.click(outsider, post, claim)
        assert link_url(stranger.components) is None
        assert stranger.content == (
            "For its first 1 minute, **Night Moth Tee** is for fans on its waitlist; anyone "
            f"can claim from <t:{int(window_ends.timestamp())}:R>."
        )

        await wait_for(lambda: utcnow() >= wave_opens, timeout=15, what="the fan's wave")
        now_in = await sandbox.click(fan, post, claim)
        url = link_url(now_in.components)
        assert url is not None and url in now_in.content, now_in.content
        assert "holds your unit until" in now_in.content
        counts = await bot.services.drop_day.counts(drop_id)
        assert counts.held == 2  # place 1 and place 6 hold the two units
    finally:
        await runner.stop()
