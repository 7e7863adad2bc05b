"""The bot's own HTTP listener: shop webhooks, a health check and Prometheus metrics.

``POST /webhooks/<shop name>`` answers with the statuses of product.md (200 accepted, repeated
or ignored; 401 bad signature; 400 not the shop's JSON; 404 unknown shop; 413 over 1 MiB).
Bodies are read whole but never beyond 1 MiB (aiohttp refuses more with 413 on its own).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import prometheus_client
from aiohttp import web

from services.errors import new_error_id
from services.registry import Services

log = logging.getLogger("dropbell.web")

MAX_BODY = 1024 * 1024


class WebListener:
    def __init__(
        self, services: Services, host: str, port: int, health: dict[str, Any] | None = None
    ) -> None:
        self.services = services
        self.host = host
        self.port = port
        self.health = health or {}
        self.started = time.monotonic()
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/webhooks/{shop}", self._webhook)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> int:
        """Listen; the port actually bound (``port = 0`` picks a free one)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("web listener on http://%s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _webhook(self, request: web.Request) -> web.Response:
        shop = request.match_info["shop"]
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"the body is over {MAX_BODY:,} bytes"}, status=413)
        try:
            answer = await self.services.drop_day.orders.receive(shop, body, request.headers)
        except Exception:
            # The shop retries a 5xx later with the same delivery: nothing is lost.
            error_id = new_error_id()
            log.exception("error %s: webhook for shop %r failed", error_id, shop)
            return web.json_response({"error": f"internal error {error_id}"}, status=500)
        key = "result" if answer.status == 200 else "error"
        return web.json_response({key: answer.text}, status=answer.status)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "uptime_seconds": round(time.monotonic() - self.started, 1)}
            | self.health
        )

    async def _metrics(self, _request: web.Request) -> web.Response:
        # The database gauges are read here, awaited, before rendering: never inside a
        # collector, which would block the event loop (and every fan) on a query.
        try:
            await self.services.gauges.refresh()
        except Exception:
            # The counters are still worth serving; the gauges keep their last values.
            log.exception("metrics: reading the database gauges failed")
        return web.Response(
            body=prometheus_client.generate_latest(),
            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
        )
