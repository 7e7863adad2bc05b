"""The adapters when the shop misbehaves: 500s, 429s, slow answers, down; and the circuit."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sandbox.shop import SandboxShop as ShopServer
from shops.base import ShopRefused, ShopUnavailable
from shops.circuit import CircuitBreaker
from shops.pacing import TokenBucket
from shops.stripe import StripeShop

from .conftest import TEE, adapter


async def test_a_500_is_retried_by_the_sdk_with_the_same_idempotency_key(
    server: ShopServer,
) -> None:
    shop = adapter(server, max_network_retries=2)
    try:
        server.catalog.faults.fail_next = 2
        link = await shop.issue_link(TEE, "dropbell-1-1")
    finally:
        await shop.aclose()
    assert server.catalog.count("POST", "/v1/checkout/sessions", 500) == 2
    assert server.catalog.count("POST", "/v1/checkout/sessions", 200) == 1
    assert list(server.stripe.sessions) == [link.link_id]


async def test_500s_past_the_retries_are_unavailable(server: ShopServer) -> None:
    shop = adapter(server, max_network_retries=1)
    try:
        server.catalog.faults.fail_next = 2
        with pytest.raises(ShopUnavailable, match=r"failed \(listing prices: HTTP 500\)\.$"):
            await shop.list_products()
        server.catalog.faults.down = True
        with pytest.raises(ShopUnavailable, match="HTTP 503"):
            await shop.get_product(TEE)
    finally:
        await shop.aclose()


async def test_a_429_waits_for_retry_after_then_every_link_is_issued(server: ShopServer) -> None:
    # The shop allows 2 requests/s per endpoint; the adapter is told it may send 100/s.
    server.catalog.faults.rate_limit_per_second = 2
    shop = adapter(server, requests_per_second=100)
    started = time.monotonic()
    try:
        links = await asyncio.gather(*(shop.issue_link(TEE, f"dropbell-1-{i}") for i in range(5)))
    finally:
        await shop.aclose()
    elapsed = time.monotonic() - started
    refused = server.catalog.count("POST", "/v1/checkout/sessions", 429)
    assert refused >= 1 and shop.throttled == refused
    assert len({link.link_id for link in links}) == 5 == len(server.stripe.sessions)
    # Two pass at once, then each waits out its whole-second Retry-After.
    assert elapsed >= 1.0


async def test_without_retries_left_a_429_is_unavailable(server: ShopServer) -> None:
    server.catalog.faults.rate_limit_per_second = 1
    shop = adapter(server, requests_per_second=100, rate_limit_retries=0)
    try:
        await shop.list_products()
        with pytest.raises(ShopUnavailable, match=r"rate limiting us \(listing prices\)"):
            await shop.list_products()
    finally:
        await shop.aclose()


async def test_a_slow_answer_past_the_timeout_is_unavailable(server: ShopServer) -> None:
    server.catalog.faults.slow_seconds = 1.0
    shop = adapter(server, timeout=0.2, max_network_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(
            ShopUnavailable, match=r"did not answer in time \(creating a Checkout Session\)\.$"
        ) as unavailable:
            await shop.issue_link(TEE, "dropbell-1-1")
    finally:
        await shop.aclose()
    assert time.monotonic() - started < 0.9
    assert "sk_test" not in str(unavailable.value)


async def test_the_token_bucket_paces_to_its_rate() -> None:
    bucket = TokenBucket(rate=50)
    started = time.monotonic()
    for _ in range(26):
        await bucket.take()
    assert 0.45 <= time.monotonic() - started < 0.8  # 25 intervals of 20 ms
    bucket.pause(0.3)
    started = time.monotonic()
    await bucket.take()
    assert time.monotonic() - started >= 0.28


async def test_the_circuit_opens_after_n_failures_tells_once_and_closes_after_recovery(
    server: ShopServer,
) -> None:
    told: list[tuple[str, str]] = []
    now = [1000.0]
    inner = adapter(server, max_network_retries=0)
    shop = CircuitBreaker(
        inner, failures=3, cool_off=30, on_open=lambda n, r: told.append((n, r)),
        clock=lambda: now[0],
    )  # fmt: skip
    try:
        server.catalog.faults.down = True
        for _ in range(3):
            with pytest.raises(ShopUnavailable, match="HTTP 503"):
                await shop.list_products()
        assert shop.is_open and len(told) == 1
        name, reason = told[0]
        assert name == "stripe-test" and "will not call it again until" in reason
        calls = len(server.catalog.requests)
        with pytest.raises(ShopUnavailable, match=r"until \d\d:\d\d:\d\d UTC \(in 30 s\)"):
            await shop.issue_link(TEE, "dropbell-1-1")
        assert len(server.catalog.requests) == calls  # the shop was not called

        now[0] += 31  # the trial call fails: open again, managers not told twice
        with pytest.raises(ShopUnavailable, match="HTTP 503"):
            await shop.list_products()
        assert shop.is_open and len(told) == 1

        server.catalog.faults.down = False
        now[0] += 31  # the trial call succeeds: closed
        assert await shop.list_products()
        assert not shop.is_open
        await shop.issue_link(TEE, "dropbell-1-1")
        for _ in range(4):  # a refusal is an answer: it opens nothing
            with pytest.raises(ShopRefused):
                await shop.get_product("price_nope")
        # ... and it ends a run of failures: two, a refusal, two more stay under three.
        for fault in ("down", "down", "refusal", "down", "down"):
            server.catalog.faults.down = fault == "down"
            with pytest.raises(ShopRefused if fault == "refusal" else ShopUnavailable):
                await shop.get_product("price_nope")
        assert not shop.is_open and len(told) == 1
    finally:
        await shop.aclose()


async def test_a_shop_nobody_answers_on_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    shop = StripeShop(
        "gone",
        secret_key="sk_test_x",
        webhook_secret="w",
        success_url=f"http://127.0.0.1:{closed}/thanks",
        cancel_url=f"http://127.0.0.1:{closed}/",
        api_base=f"http://127.0.0.1:{closed}",
        max_network_retries=0,
    )
    try:
        with pytest.raises(ShopUnavailable, match=r"^Stripe shop 'gone' could not be reached"):
            await shop.list_products()
    finally:
        await shop.aclose()
