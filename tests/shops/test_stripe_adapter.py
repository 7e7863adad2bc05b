"""The Stripe and sandbox adapters against a real sandbox shop, over HTTP."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from sandbox.shop import SandboxShop as ShopServer
from shops.base import ShopRefused
from shops.sandbox import SandboxShop
from shops.stripe import StripeShop

from .conftest import CAP, TEE


async def test_lists_prices_with_names_and_the_sandbox_reports_stock(
    stripe_shop: StripeShop, sandbox_shop: SandboxShop
) -> None:
    products = await stripe_shop.list_products()
    assert [(p.id, p.name, p.price_cents, p.currency) for p in products] == [
        (TEE, "Night Moth Tee", 3500, "eur"),
        (CAP, "Moth Cap", 2000, "eur"),
    ]
    assert all(p.stock is None for p in products)  # Stripe itself keeps no stock
    [cap] = await sandbox_shop.list_products("CAP")
    assert (cap.id, cap.stock) == (CAP, 2)
    assert (await sandbox_shop.get_product(TEE)).stock == 5


async def test_an_unknown_price_is_refused_in_one_sentence(stripe_shop: StripeShop) -> None:
    with pytest.raises(ShopRefused, match=r"No such price: 'price_nope'\.$") as refused:
        await stripe_shop.get_product("price_nope")
    with pytest.raises(ShopRefused, match="No such price"):
        await stripe_shop.issue_link("price_nope", "dropbell-1-1")
    assert "sk_test" not in str(refused.value)


async def test_a_wrong_key_is_refused_without_repeating_it(server: ShopServer) -> None:
    shop = StripeShop(
        "s",
        secret_key="pk_live_public",
        webhook_secret="w",
        success_url=f"{server.base_url}/thanks",
        cancel_url=f"{server.base_url}/",
        api_base=server.base_url,
    )
    try:
        with pytest.raises(ShopRefused, match="refused our secret key") as refused:
            await shop.list_products()
        assert "pk_live_public" not in str(refused.value)
    finally:
        await shop.aclose()


async def test_issue_link_is_one_session_per_claim_ref(
    server: ShopServer, stripe_shop: StripeShop
) -> None:
    first = await stripe_shop.issue_link(TEE, "dropbell-7-1")
    await asyncio.sleep(1.05)  # a retry in a later second still sends the same parameters
    again = await stripe_shop.issue_link(TEE, "dropbell-7-1")
    other = await stripe_shop.issue_link(TEE, "dropbell-7-2")
    assert again == first and other.link_id != first.link_id
    assert first.url == f"{server.base_url}/c/pay/{first.link_id}"
    assert first.expires_at is not None
    hours = (first.expires_at.timestamp() - time.time()) / 3600
    assert 23.5 < hours <= 24  # Stripe's maximum; shorter holds are ended by expire_link
    session = server.stripe.sessions[first.link_id]
    assert session["client_reference_id"] == "dropbell-7-1"
    assert session["metadata"] == {"claim_ref": "dropbell-7-1"}
    assert len(server.stripe.sessions) == 2


async def test_expire_link_ends_an_open_session_and_accepts_an_ended_one(
    server: ShopServer, stripe_shop: StripeShop
) -> None:
    link = await stripe_shop.issue_link(TEE, "dropbell-1-1")
    await stripe_shop.expire_link(link.link_id)
    assert server.stripe.sessions[link.link_id]["status"] == "expired"
    await stripe_shop.expire_link(link.link_id)  # already expired: not an error
    paid = await stripe_shop.issue_link(TEE, "dropbell-1-2")
    await server.stripe.complete(paid.link_id)
    await stripe_shop.expire_link(paid.link_id)  # paid meanwhile: ended, not an error
    assert server.stripe.sessions[paid.link_id]["status"] == "complete"
    assert server.catalog.count("POST", "/v1/checkout/sessions/", 400) == 2
    with pytest.raises(ShopRefused, match=r"No such checkout\.session"):
        await stripe_shop.expire_link("cs_test_unknown")


async def test_completing_a_session_takes_stock(
    server: ShopServer, sandbox_shop: SandboxShop
) -> None:
    link = await sandbox_shop.issue_link(CAP, "dropbell-2-1")
    await server.stripe.complete(link.link_id)
    assert (await sandbox_shop.get_product(CAP)).stock == 1
    with pytest.raises(ValueError, match="complete, not open"):
        await server.stripe.complete(link.link_id)


async def _post(server: ShopServer, data: dict[str, str], **headers: str) -> tuple[int, dict]:
    headers = {"Authorization": "Bearer sk_test_raw", **headers}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/v1/checkout/sessions", data=data, headers=headers) as r,
    ):
        return r.status, await r.json()


def _session_form(**extra: str) -> dict[str, str]:
    return {
        "mode": "payment",
        "line_items[0][price]": TEE,
        "line_items[0][quantity]": "1",
        "success_url": "https://example.com/ok",
        **extra,
    }


@pytest.mark.parametrize(
    ("minutes", "status"), [(29, 400), (31, 200), (24 * 60 - 1, 200), (24 * 60 + 2, 400)]
)
async def test_the_sandbox_holds_expires_at_to_stripes_window(
    server: ShopServer, minutes: int, status: int
) -> None:
    expires_at = str(int(time.time()) + minutes * 60)
    got, body = await _post(server, _session_form(expires_at=expires_at))
    assert got == status
    if status == 400:
        assert body["error"]["param"] == "expires_at"
        assert body["error"]["type"] == "invalid_request_error"


async def test_the_sandbox_speaks_stripes_errors_and_idempotency(server: ShopServer) -> None:
    status, body = await _post(server, _session_form(), Authorization="Basic nope")
    assert status == 401 and "nope" not in body["error"]["message"]
    status, first = await _post(server, _session_form(), **{"Idempotency-Key": "k1"})
    status2, again = await _post(server, _session_form(), **{"Idempotency-Key": "k1"})
    assert status == status2 == 200 and again["id"] == first["id"]
    status, body = await _post(
        server, _session_form(client_reference_id="x"), **{"Idempotency-Key": "k1"}
    )
    assert status == 400 and body["error"]["type"] == "idempotency_error"
    status, body = await _post(server, {**_session_form(), "mode": "subscription"})
    assert status == 400 and body["error"]["param"] == "mode"
