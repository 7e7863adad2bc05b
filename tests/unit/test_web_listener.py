"""The web listener under arbitrary input: whatever arrives, the answer is one of the statuses
product.md names, never a 500, and nothing but a correctly signed event changes anything."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.bot import schedule_config
from bot.config import SchedulerSettings
from bot.web import MAX_BODY, WebListener
from services.registry import Services
from shops.sandbox import SandboxShop as SandboxShopAdapter
from storage import migrate
from storage.engine import Database
from tests.databases import database_url

SECRET = "listener-test-secret"
ALLOWED = {200, 400, 401, 404, 413}


class ListenerThread:
    """A real listener on its own loop and thread, so a plain (hypothesis) test can call it."""

    def __init__(self, database_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, args=(database_path,), daemon=True)

    def _run(self, database_path: Path) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start(database_path))
        self.ready.set()
        self.loop.run_forever()

    async def _start(self, database_path: Path) -> None:
        self.database = Database(database_url(database_path))
        await migrate.upgrade(self.database)
        # The adapter is only asked to verify signatures here: its API is never called.
        shop = SandboxShopAdapter("sandbox", api_base="http://127.0.0.1:9", webhook_secret=SECRET)
        services = Services.build(
            self.database, schedule_config(SchedulerSettings()), shops={"sandbox": shop}
        )
        self.listener = WebListener(services, "127.0.0.1", 0)
        self.port = await self.listener.start()

    def stop(self) -> None:
        async def close() -> None:
            await self.listener.stop()
            await self.database.dispose()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ListenerThread]:
    running = ListenerThread(tmp_path_factory.mktemp("web") / "dropbell.db")
    running.thread.start()
    assert running.ready.wait(20)
    yield running
    running.stop()


header_names = st.sampled_from(
    ["Stripe-Signature", "Content-Type", "X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Other"]
)
# What an HTTP client can send at all: printable ASCII, no surrounding spaces.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shop=st.sampled_from(["sandbox", "unknown", "sandbox%20x"]),
    body=st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda t: t.encode(), st.text(max_size=300)),
        st.just(b'{"id": "evt_1", "type": "checkout.session.completed", "data": {}}'),
    ),
    headers=st.dictionaries(header_names, header_values, max_size=4),
)
def test_any_delivery_gets_a_named_status(
    listener: ListenerThread, shop: str, body: bytes, headers: dict[str, str]
) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{listener.port}/webhooks/{shop}", content=body, headers=headers
    )
    assert response.status_code in ALLOWED, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    if shop != "sandbox":
        assert response.status_code == 404


def test_size_and_paths(listener: ListenerThread) -> None:
    base = f"http://127.0.0.1:{listener.port}"
    too_big = httpx.post(f"{base}/webhooks/sandbox", content=b"{" * (MAX_BODY + 1))
    assert too_big.status_code == 413
    assert httpx.get(f"{base}/webhooks/sandbox").status_code == 405
    assert httpx.get(f"{base}/nothing").status_code == 404
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        # Unknown paths are 404 whatever the method, and say nothing about what exists.
        ("GET", "/", 404),
        ("POST", "/nothing", 404),
        ("PUT", "/webhooks", 404),
        ("DELETE", "/webhooks/", 404),
        ("POST", "/webhooks/sandbox/extra", 404),
        ("POST", "/webhooks/..%2Fhealthz", 404),
        ("OPTIONS", "/admin", 404),
        ("PATCH", "/metrics/x", 404),
        # Known paths answer only their own method.
        ("PUT", "/webhooks/sandbox", 405),
        ("DELETE", "/webhooks/sandbox", 405),
        ("POST", "/healthz", 405),
        ("POST", "/metrics", 405),
    ],
)
def test_unknown_paths_and_methods(
    listener: ListenerThread, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, f"http://127.0.0.1:{listener.port}{path}", content=b"{}")
    assert response.status_code == status, (method, path, response.text)


def test_a_streamed_body_over_the_limit_is_refused(listener: ListenerThread) -> None:
    # No Content-Length to refuse up front: the limit holds while the body is read.
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"{" * 65536

    response = httpx.post(f"http://127.0.0.1:{listener.port}/webhooks/sandbox", content=chunks())
    assert response.status_code == 413
