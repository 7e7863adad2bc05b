"""A real sandbox shop on 127.0.0.1 per test, the real adapters over HTTP, and a webhook
listener standing in for dropbell's (it hands each delivery to the adapter's parse_webhook)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from sandbox.shop import SandboxShop as ShopServer
from shops.base import ShopEvent, WebhookRejected
from shops.sandbox import SandboxShop
from shops.stripe import StripeShop

WEBHOOK_SECRET = "whsec_test_secret"
TEE, CAP = "price_tee", "price_cap"


@pytest.fixture
async def server() -> AsyncIterator[ShopServer]:
    async with ShopServer(stripe_webhook_secret=WEBHOOK_SECRET) as shop:
        shop.catalog.add_product(TEE, "Night Moth Tee", 3500, stock=5)
        shop.catalog.add_product(CAP, "Moth Cap", 2000, stock=2)
        shop.catalog.add_product("123456", "Shopify-side variant", 999, stock=1)
        yield shop


def adapter(server: ShopServer, **options: Any) -> StripeShop:
    """The Stripe adapter against the sandbox shop; tests shorten its timeouts and retries."""
    return StripeShop(
        "stripe-test",
        secret_key="sk_test_adapter",
        webhook_secret=WEBHOOK_SECRET,
        api_base=server.base_url,
        success_url=f"{server.base_url}/thanks",
        cancel_url=f"{server.base_url}/",
        **options,
    )


@pytest.fixture
async def stripe_shop(server: ShopServer) -> AsyncIterator[StripeShop]:
    shop = adapter(server)
    yield shop
    await shop.aclose()


@pytest.fixture
async def sandbox_shop(server: ShopServer) -> AsyncIterator[SandboxShop]:
    shop = SandboxShop("sandbox", api_base=server.base_url, webhook_secret=WEBHOOK_SECRET)
    yield shop
    await shop.aclose()


@dataclass
class Listener:
    """dropbell's webhook endpoint in miniature: what came in and what it answered."""

    url: str
    events: list[ShopEvent] = field(default_factory=list)
    rejected: list[WebhookRejected] = field(default_factory=list)


@pytest.fixture
async def listener(server: ShopServer, sandbox_shop: SandboxShop) -> AsyncIterator[Listener]:
    async def receive(request: web.Request) -> web.Response:
        try:
            event = sandbox_shop.parse_webhook(await request.read(), request.headers)
        except WebhookRejected as rejected:
            box.rejected.append(rejected)
            return web.Response(status=rejected.status, text=rejected.reason)
        box.events.append(event)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/sandbox", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box = Listener(f"http://127.0.0.1:{port}/webhooks/sandbox")
    server.stripe.webhook_urls.append(box.url)
    yield box
    await runner.cleanup()
