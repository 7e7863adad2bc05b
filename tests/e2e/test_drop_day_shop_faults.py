"""A claim storm through the real bot while the sandbox shop misbehaves.

The shop is slow, rate limits with 429 and Retry-After, and answers 500 while the pool fills
for the opening; then it answers nothing but 500 while holds end and their units come back
needing fresh links, and fans keep pressing Get my link; then it recovers. Every answer is a
link or one clear sentence (no link yet, sold out, your hold ended); afterwards each fan has
at most one claim, no link went to two fans, and remaining + held + paid = stock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.bot import Dropbell
from sandbox import InteractionResult, Member, Message, Sandbox
from sandbox.shop.server import SandboxShop
from shops.circuit import CircuitBreaker
from shops.sandbox import SandboxShop as SandboxShopAdapter
from tests.e2e.drop_day_support import (
    HOLD_SECONDS,
    PRICE,
    drop_day_settings,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
)
from tests.e2e.fault_support import check_drop_day
from tests.harness import Community, InProcessBot, build_community

STOCK = 8
NO_LINK = "has not given me a purchase link"
SOLD_OUT = "is sold out"
HOLD_ENDED = "unpaid, so its unit went back"
PAID = "thank you!"
CREATE = "/v1/checkout/sessions"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=100)
        yield running


@pytest.fixture
def crowd(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=16)


class Storm:
    """Presses Get my link and files every answer by what it says."""

    def __init__(self, sb: Sandbox, post: Message, drop_id: int) -> None:
        self.sb, self.post, self.drop_id = sb, post, drop_id
        self.shown: dict[int, set[str]] = {}
        self.answers = {"link": 0, "no link": 0, "sold out": 0, "ended": 0, "paid": 0}

    async def press(self, fan: Member) -> str | None:
        result: InteractionResult = await self.sb.click(
            fan, self.post, f"dropbell:claim:{self.drop_id}", timeout=8
        )
        assert result.ephemeral, result.content
        url = link_url(result.components)
        if url is not None:
            assert url in result.content
            self.shown.setdefault(fan.id, set()).add(url)
            self.answers["link"] += 1
            return url
        kind = next(
            (
                kind
                for kind, words in (
                    ("no link", NO_LINK),
                    ("sold out", SOLD_OUT),
                    ("ended", HOLD_ENDED),
                    ("paid", PAID),
                )
                if words in result.content
            ),
            None,
        )
        assert kind is not None, f"neither a link nor a clear sentence: {result.content!r}"
        self.answers[kind] += 1
        return None

    async def keep_pressing(self, fans: list[Member], seconds: float) -> None:
        """Each fan presses every 0.4 s until they hold a link or ``seconds`` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def one(fan: Member) -> None:
            while loop.time() < deadline and fan.id not in self.shown:
                await self.press(fan)
                await asyncio.sleep(0.4)

        await asyncio.gather(*(one(fan) for fan in fans))


async def test_shop_faults_during_a_claim_storm(
    sandbox: Sandbox, crowd: Community, shop: SandboxShop, database_path: Path
) -> None:
    bots: list[Dropbell] = []
    # A short cool-off, so the shop is tried again within the test once it recovers.
    adapter = CircuitBreaker(
        SandboxShopAdapter(
            "sandbox", api_base=shop.base_url, webhook_secret=shop.stripe.webhook_secret
        ),
        failures=3,
        cool_off=1.0,
        on_open=lambda name, reason: bots[0].services.drop_day.shop_down(name, reason),
    )
    runner = InProcessBot(
        drop_day_settings(sandbox, shop, database_path, crowd.guild.id),
        shops={"sandbox": adapter},
    )
    bots.append(await runner.start())
    bot = bots[0]
    shop.stripe.webhook_urls[:] = [f"http://127.0.0.1:{bot.web_port}/webhooks/sandbox"]
    faults = shop.catalog.faults
    try:
        # The pool fills through slow answers, 429s with Retry-After and a few 500s.
        faults.slow_seconds = 0.2
        faults.rate_limit_per_second = 5
        faults.fail_next = 3
        drop_id = await drop_opening_in(bot, crowd, 2, stock=STOCK)
        post = await opening_post(sandbox, crowd, drop_id)
        storm = Storm(sandbox, post, drop_id)

        # Now the shop answers only 500 (slowly): the links the pool issues ahead for holds
        # ending soon never come. Twelve fans press at once.
        faults.fail_next = 10**6
        faults.slow_seconds = 0.3
        first_wave = crowd.fans[:12]
        await asyncio.gather(*(storm.press(fan) for fan in first_wave))
        holders = [fan for fan in first_wave if fan.id in storm.shown]
        assert 1 <= len(holders) <= STOCK
        # Two of them pay (the payment is the fan's, at the shop: no API call of ours).
        for fan in holders[:2]:
            [url] = storm.shown[fan.id]
            assert (await shop.stripe.complete(session_of(shop, url))).statuses == [200]

        # The other holds end unpaid; their units come back with no links to go with them.
        # Everyone without a link keeps pressing through it.
        waiting = [fan for fan in crowd.fans if fan.id not in storm.shown]
        await storm.keep_pressing(waiting, HOLD_SECONDS + 4)
        assert storm.answers["no link"] >= 1, storm.answers  # the fault path was exercised
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.remaining >= 1  # units free, waiting for links

        # The shop recovers: the pool refills and the fans still pressing get links.
        faults.fail_next = 0
        faults.slow_seconds = 0.0
        faults.rate_limit_per_second = None
        links_before = storm.answers["link"]
        await storm.keep_pressing([f for f in waiting if f.id not in storm.shown], 10)
        assert storm.answers["link"] > links_before, storm.answers
        # Holders pressing again: the same link, that they paid, or that their hold ended.
        for fan in holders:
            await storm.press(fan)
        answered = {status: shop.catalog.count("POST", CREATE, status) for status in (429, 500)}
        print(f"answers: {storm.answers}; the shop's refusals of link creates: {answered}")
        assert answered[429] >= 1 and answered[500] >= 1, answered  # the faults did fire
        await bot.services.drop_day.claims.idle()
    finally:
        await runner.stop()
    found = check_drop_day(
        database_path,
        sandbox,
        shop,
        crowd,
        drop_id,
        stock=STOCK,
        joins_acked=set(),
        links_shown=storm.shown,
    )
    states = [state for _, _, state in found.claims.values()]
    assert states.count("paid") == 2
