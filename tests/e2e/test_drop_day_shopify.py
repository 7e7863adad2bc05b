"""Drop day through a Shopify store: the real Shopify adapter (Admin GraphQL over HTTP) against
the sandbox shop's Shopify-shaped API, orders back as signed webhooks, matched by code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from services.drops.rules import DropSpec
from services.localtime import utcnow
from tests.e2e.drop_day_support import link_url, opening_post
from tests.harness import Community, InProcessBot, settings_for, wait_for

VARIANT = "4001"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(VARIANT, "Night Moth Tee / M", 3500, stock=2)
        yield running


def state_is(
    bot: Dropbell, drop_id: int, user_id: int, state: str
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        claim = await bot.services.drop_day.claim_of(drop_id, user_id)
        return claim is not None and claim.state == state

    return check


async def test_a_shopify_drop_sells_and_attributes_by_code(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    settings = settings_for(
        sandbox,
        database_path,
        community.guild.id,
        sections={
            "shops": {
                "store": {
                    "kind": "shopify",
                    "shop_domain": "night-moth.myshopify.com",
                    "admin_token": "shpat_sandbox",
                    "webhook_secret": "sandbox-shopify-secret",
                    "api_base": shop.base_url,
                }
            }
        },
    )
    runner = InProcessBot(settings)
    bot = await runner.start()
    shop.shopify.webhook_url = f"http://127.0.0.1:{bot.web_port}/webhooks/store"
    try:
        # The product autocomplete shows the variant with its price and the shop's stock.
        choices = await sandbox.autocomplete(
            community.manager, "drop create", {"name": "x", "product": "moth"}, focused="product"
        )
        assert any(
            c["value"] == f"store:{VARIANT}" and "2 in stock" in c["name"] for c in choices
        ), choices
        drop = await bot.services.drops.create(
            community.guild.id,
            community.manager.id,
            DropSpec(
                "Night Moth Tee",
                utcnow() + timedelta(seconds=2),
                "UTC",
                2,
                channel_id=community.drops.id,
                product=f"store:{VARIANT}",
            ),
        )
        await bot.services.events.drop_changed(drop.id)
        post = await opening_post(sandbox, community, drop.id)
        fan = community.fans[0]
        answer = await sandbox.click(fan, post, f"dropbell:claim:{drop.id}")
        url = link_url(answer.components)
        assert url is not None and f"/cart/{VARIANT}:1" in url
        code = parse_qs(urlsplit(url).query)["discount"][0]
        await shop.shopify.complete(code)
        await wait_for(
            state_is(bot, drop.id, fan.id, "paid"), what="the Shopify order matched by its code"
        )
        claim = await bot.services.drop_day.claim_of(drop.id, fan.id)
        assert claim is not None and claim.order_ref
        # A refund names only its order: it still finds the claim.
        await shop.shopify.refund(int(claim.order_ref))
        await wait_for(state_is(bot, drop.id, fan.id, "refunded"), what="the refund recorded")
    finally:
        await runner.stop()
