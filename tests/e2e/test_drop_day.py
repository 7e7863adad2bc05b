"""Drop day end to end: the real bot, the strict sandbox, the sandbox shop over HTTP, and
signed webhooks arriving at the bot's own web listener."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import (
    HOLD_SECONDS,
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.harness import Community, wait_for


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


async def test_claims_links_orders_and_holds(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=3)
        # Links are issued before opening: one per unit plus a margin, none while fans wait.
        await wait_for(lambda: len(shop.stripe.sessions) >= 3, timeout=10, what="the pool")
        post = await opening_post(sandbox, community, drop_id)
        assert "**3** of 3 left" in post.content
        first, second, third, fourth, fifth = community.fans[:5]

        answer = await sandbox.click(first, post, f"dropbell:claim:{drop_id}")
        assert answer.ephemeral
        url = link_url(answer.components)
        assert url is not None and url in answer.content
        assert "holds your unit until" in answer.content
        again = await sandbox.click(first, post, f"dropbell:claim:{drop_id}")
        assert link_url(again.components) == url  # pressing again: the same link

        for fan in (second, third):
            got = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
            assert link_url(got.components) not in (None, url)
        sold_out = await sandbox.click(fourth, post, f"dropbell:claim:{drop_id}")
        assert link_url(sold_out.components) is None
        assert "sold out" in sold_out.content and "Join its waitlist" in sold_out.content
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.remaining == 0
        # The opening post keeps showing the real remaining stock (a coalesced edit).
        await wait_for(
            lambda: "**0** of 3 left" in sandbox.world.messages_by_id[post.id].content,
            what="the opening post's stock edited",
        )

        # The first fan pays: a signed webhook reaches the bot's listener; the claim is paid.
        delivery = await shop.stripe.complete(session_of(shop, url))
        assert [status for _, status in delivery.results] == [200]
        await wait_for(_paid(bot, drop_id, first.id), what="the claim marked paid")
        # The fan's latest answer (its interaction still alive) now says so.
        edited = await again.wait_edit()
        assert "Paid" in edited.content and link_url(edited.components) is None
        # The same delivery again (shops retry): 200, nothing changes.
        replay = await shop.stripe.send(delivery)
        assert replay.results[-1][1] == 200
        counts = await bot.services.drop_day.counts(drop_id)
        assert (counts.paid, counts.held) == (1, 2)

        # The two other holds end unpaid: their units come back, their links end at the shop.
        await wait_for(_remaining(bot, drop_id, 2), timeout=HOLD_SECONDS + 10, what="holds ending")
        await wait_for(
            lambda: shop.catalog.count("POST", "/v1/checkout/sessions/cs_", 200) >= 2,
            what="the expired holds' sessions ended at the shop",
        )
        got = await sandbox.click(fifth, post, f"dropbell:claim:{drop_id}")
        assert link_url(got.components) is not None

        export = await sandbox.slash(community.manager, "drop export", {"drop": str(drop_id)})
        [(_, data, _)] = export.attachments
        rows = {row["user_id"]: row for row in csv.DictReader(io.StringIO(data.decode()))}
        assert rows[str(first.id)]["claim_status"] == "paid"
        assert rows[str(first.id)]["order_ref"].startswith("pi_")
        assert rows[str(first.id)]["place"] == ""  # claimed without joining
        assert rows[str(second.id)]["claim_status"] == "expired"
        assert rows[str(fifth.id)]["claim_status"] == "held"

        show = await sandbox.slash(community.manager, "drop show", {"drop": str(drop_id)})
        claims_field = next(f for f in show.embeds[0]["fields"] if f["name"] == "Claims")
        assert "4 claimed · 1 paid · 1 held · 2 expired" in claims_field["value"]
    finally:
        await runner.stop()


async def test_webhook_listener_statuses(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    base = f"http://127.0.0.1:{bot.web_port}"
    try:
        good = shop.stripe.delivery(shop.stripe.event("payment_intent.created", {"id": "pi_1"}))
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{base}/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            metrics = await client.get(f"{base}/metrics")
            assert metrics.status_code == 200 and "dropbell_claims" in metrics.text

            async def post(path: str, body: bytes, headers: dict[str, str]) -> int:
                response = await client.post(f"{base}{path}", content=body, headers=headers)
                return response.status_code

            hook = "/webhooks/sandbox"
            assert await post(hook, good.body, good.headers) == 200  # unknown type: ignored
            assert await post(hook, good.body, good.headers) == 200  # repeated
            assert await post("/webhooks/nope", good.body, good.headers) == 404
            assert await post(hook, good.body, {}) == 401  # no signature
            wrong = dict(good.headers, **{"Stripe-Signature": "t=1,v1=00"})
            assert await post(hook, good.body, wrong) == 401
            stale = shop.stripe.delivery(
                shop.stripe.event("payment_intent.created", {"id": "pi_2"}), age_seconds=600
            )
            assert await post(hook, stale.body, stale.headers) == 401
            assert await post(hook, b"x" * (1024 * 1024 + 1), good.headers) == 413
            assert (await client.get(f"{base}/nothing-here")).status_code == 404
    finally:
        await runner.stop()


def _paid(bot: Dropbell, drop_id: int, user_id: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        claim = await bot.services.drop_day.claim_of(drop_id, user_id)
        return claim is not None and claim.state == "paid"

    return check


def _remaining(bot: Dropbell, drop_id: int, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        drop = await bot.services.drops.get_any(drop_id)
        return drop is not None and drop.remaining == expected

    return check


async def test_drop_open_early_posts_once_the_links_are_ready(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 3 * 24 * 3600, stock=3)
        assert shop.stripe.sessions == {}  # days away: no links yet (they'd expire first)
        opened = await sandbox.slash(community.manager, "drop open", {"drop": str(drop_id)})
        assert "opens now" in (await opened.wait_final()).text
        post = await opening_post(sandbox, community, drop_id)
        assert len(shop.stripe.sessions) >= 3  # issued before the post went out
        answer = await sandbox.click(community.fans[0], post, f"dropbell:claim:{drop_id}")
        assert link_url(answer.components) is not None, answer.content
        again = await sandbox.slash(community.manager, "drop open", {"drop": str(drop_id)})
        assert "already live" in (await again.wait_final()).text
    finally:
        await runner.stop()
