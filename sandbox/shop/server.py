"""The sandbox shop: one aiohttp server on 127.0.0.1 serving shop-shaped APIs over one Catalog.

Each API is a class with ``routes()``; ``SandboxShop.__init__`` mounts them (the one place a
further API is added). Every API request goes through the same fault switches
(``Catalog.faults``) and is recorded in ``Catalog.requests``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

from aiohttp import web

from .catalog import Catalog
from .checkout_page import CheckoutPages
from .shopify_api import ShopifyApi
from .stripe_api import StripeApi
from .stripe_wire import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ShopApi(Protocol):
    def routes(self) -> list[web.RouteDef]: ...


class EndpointLimiter:
    """``Faults.rate_limit_per_second`` per endpoint, as a token bucket holding one second's
    worth of requests (Stripe's limiter also lets a short burst through)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # endpoint -> (tokens, at)

    def retry_after(self, endpoint: str, rate: float) -> int | None:
        """None if the request may pass (and takes a token), else whole seconds to wait."""
        capacity = max(1.0, rate)
        now = time.monotonic()
        tokens, at = self._buckets.get(endpoint, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[endpoint] = (tokens - 1.0, now)
            return None
        self._buckets[endpoint] = (tokens, now)
        # Retry-After is whole seconds on the wire (RFC 9110), so never below one.
        return max(1, math.ceil((1.0 - tokens) / rate))


class SandboxShop:
    """A local shop for tests, the demo and ``dropbell sandbox``: ``async with SandboxShop() as
    shop`` (port 0 picks a free port; ``shop.base_url`` says which), ``shop.catalog`` holds what
    it sells and its fault switches, ``shop.stripe`` is the Stripe-shaped API and its fan actions.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stripe_webhook_secret: str = "sandbox-secret",
        shopify_webhook_secret: str = "sandbox-shopify-secret",
        shopify_admin_token: str = "shpat_sandbox",
    ) -> None:
        self.catalog = catalog or Catalog()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._limiter = EndpointLimiter()
        self._page_paths: set[str] = set()
        self.stripe = StripeApi(self.catalog, lambda: self.base_url, stripe_webhook_secret)
        self.shopify = ShopifyApi(self.catalog, shopify_webhook_secret, shopify_admin_token)
        # Each API serves its routes() and obeys the same faults.
        self.apis: list[ShopApi] = [self.stripe, self.shopify]
        # Pages a person opens in a browser: not API requests, so no faults and no log.
        self.pages: list[ShopApi] = [CheckoutPages(self.stripe)]

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox shop is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._faults_and_log])
        for api in self.apis:
            app.add_routes(api.routes())
        for pages in self.pages:
            routes = pages.routes()
            self._page_paths.update(route.path for route in routes)
            app.add_routes(routes)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1]) if sockets else self._requested_port

    async def stop(self) -> None:
        await self.stripe.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxShop:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @web.middleware
    async def _faults_and_log(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in self._page_paths:
            return await handler(request)
        status = 500
        try:
            response = await self._fault(request) or await handler(request)
            status = response.status
            return response
        except web.HTTPException as http_error:
            status = http_error.status
            raise
        finally:
            self.catalog.requests.append((request.method, request.path, status))

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        """The answer a switched-on fault gives instead of the API, or None."""
        faults = self.catalog.faults
        if faults.slow_seconds > 0:
            await asyncio.sleep(faults.slow_seconds)
        if faults.down:
            return error_response(503, "The sandbox shop is down (faults.down).", type_="api_error")
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return error_response(
                500, "An error occurred with our connection to the shop (faults.fail_next).",
                type_="api_error",
            )  # fmt: skip
        rate = faults.rate_limit_per_second
        if rate is not None and rate > 0:
            resource = request.match_info.route.resource
            endpoint = f"{request.method} {resource.canonical if resource else request.path}"
            wait = self._limiter.retry_after(endpoint, rate)
            if wait is not None:
                return error_response(
                    429,
                    f"Too many requests to {endpoint}: at most {rate:g} per second.",
                    code="rate_limit",
                    headers={"Retry-After": str(wait)},
                )
        return None
