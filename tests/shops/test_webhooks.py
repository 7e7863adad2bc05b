"""parse_webhook on real signed deliveries from the sandbox shop, and on every bad one."""

from __future__ import annotations

import asyncio
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.shop import SandboxShop as ShopServer
from sandbox.shop.stripe_wire import make_delivery, signature_header
from shops.base import EventKind, ShopEvent, WebhookRejected
from shops.sandbox import SandboxShop
from shops.stripe import StripeShop

from .conftest import TEE, WEBHOOK_SECRET, Listener


async def _wait_for(listener: Listener, count: int) -> None:
    for _ in range(200):
        if len(listener.events) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(listener.events)} events arrived, not {count}")


def _rejection(shop: StripeShop, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    try:
        shop.parse_webhook(body, headers)
    except WebhookRejected as rejected:
        return rejected.status, rejected.reason
    raise AssertionError("accepted")


async def test_a_fans_payment_arrives_as_a_signed_paid_event(
    server: ShopServer, sandbox_shop: SandboxShop, listener: Listener
) -> None:
    link = await sandbox_shop.issue_link(TEE, "dropbell-4-9")
    delivery = await server.stripe.complete(link.link_id)
    assert delivery.statuses == [200]
    [paid] = listener.events
    assert paid.kind is EventKind.PAID
    assert (paid.link_id, paid.claim_ref) == (link.link_id, "dropbell-4-9")
    assert paid.order_ref == server.stripe.sessions[link.link_id]["payment_intent"]
    assert paid.order_ref and paid.order_ref.startswith("pi_")
    assert paid.event_id == delivery.event_id and paid.occurred_at is not None

    refund = await server.stripe.refund(link.link_id)
    assert refund.statuses == [200]
    refunded = listener.events[-1]
    assert (refunded.kind, refunded.order_ref) == (EventKind.REFUNDED, paid.order_ref)
    assert refunded.claim_ref == "dropbell-4-9"

    await server.stripe.restock(TEE, 3)
    restocked = listener.events[-1]
    assert (restocked.kind, restocked.product_id, restocked.quantity) == (
        EventKind.RESTOCKED,
        TEE,
        7,  # 5, one sold, three more
    )


async def test_expiring_through_the_api_sends_an_expired_event(
    sandbox_shop: SandboxShop, listener: Listener, server: ShopServer
) -> None:
    link = await sandbox_shop.issue_link(TEE, "dropbell-5-1")
    await sandbox_shop.expire_link(link.link_id)
    await _wait_for(listener, 1)
    [expired] = listener.events
    assert (expired.kind, expired.link_id, expired.claim_ref) == (
        EventKind.EXPIRED,
        link.link_id,
        "dropbell-5-1",
    )
    other = await sandbox_shop.issue_link(TEE, "dropbell-5-2")
    await server.stripe.expire(other.link_id)  # its expires_at passed
    assert listener.events[-1].link_id == other.link_id


async def test_a_replayed_delivery_reads_as_the_same_event(
    server: ShopServer, sandbox_shop: SandboxShop, listener: Listener
) -> None:
    link = await sandbox_shop.issue_link(TEE, "dropbell-6-1")
    delivery = await server.stripe.complete(link.link_id)
    again = await server.stripe.send(delivery)  # Stripe retries with the same event id
    assert again.statuses == [200, 200]
    first, repeat = listener.events
    assert repeat == first  # the event id is what the listener de-duplicates on


async def test_bad_signatures_and_stale_or_replayed_deliveries_get_401(
    server: ShopServer, sandbox_shop: SandboxShop
) -> None:
    good = server.stripe.delivery(server.stripe.event("checkout.session.expired", {"id": "cs_1"}))
    assert sandbox_shop.parse_webhook(good.body, good.headers).kind is EventKind.EXPIRED
    assert _rejection(sandbox_shop, good.body, good.with_bad_signature().headers)[0] == 401
    assert _rejection(sandbox_shop, good.body, good.without_signature().headers) == (
        401,
        "The delivery has no Stripe-Signature header.",
    )
    forged = good.with_body(good.body.replace(b"cs_1", b"cs_2"))
    assert _rejection(sandbox_shop, forged.body, forged.headers)[0] == 401
    # Six minutes old: a replay of a captured delivery, past Stripe's 5-minute tolerance.
    stale = server.stripe.delivery(good.event, age_seconds=360)
    status, reason = _rejection(sandbox_shop, stale.body, stale.headers)
    assert (status, reason) == (401, "The Stripe-Signature is wrong or older than 5 minutes.")
    recent = server.stripe.delivery(good.event, age_seconds=240)
    assert sandbox_shop.parse_webhook(recent.body, recent.headers).event_id == good.event_id
    # A header in another spelling is the same header (HTTP names are case-insensitive).
    lower = {"stripe-signature": good.headers["Stripe-Signature"]}
    assert sandbox_shop.parse_webhook(good.body, lower).event_id == good.event_id


def _signed(body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET, int(time.time()))}


def test_a_signed_body_that_is_not_a_stripe_event_gets_400(sandbox_shop: SandboxShop) -> None:
    for body in [b"{not json", b"[]", b'{"object": "list"}', b"\xff\xfe", b""]:
        status, reason = _rejection(sandbox_shop, body, _signed(body))
        assert status == 400, body
        assert "secret" not in reason
    # Unsigned garbage is refused for its signature first: a forger learns nothing more.
    assert _rejection(sandbox_shop, b"{not json", {"Stripe-Signature": "t=1,v1=00"})[0] == 401
    event = {"id": "evt_1", "object": "event", "type": "checkout.session.completed"}
    body = json.dumps(event).encode()
    assert _rejection(sandbox_shop, body, _signed(body)) == (
        400,
        "The Stripe event has no data.object.",
    )


def test_an_unknown_event_type_is_ignored(server: ShopServer, sandbox_shop: SandboxShop) -> None:
    delivery = server.stripe.delivery(server.stripe.event("customer.created", {"id": "cus_1"}))
    event = sandbox_shop.parse_webhook(delivery.body, delivery.headers)
    assert (event.kind, event.event_id) == (EventKind.IGNORED, delivery.event_id)
    unpaid = server.stripe.event(
        "checkout.session.completed", {"id": "cs_9", "payment_status": "unpaid"}
    )
    delivery = make_delivery(unpaid, WEBHOOK_SECRET)
    assert sandbox_shop.parse_webhook(delivery.body, delivery.headers).kind is EventKind.IGNORED


def test_real_stripe_has_no_restock_event(stripe_shop: StripeShop, server: ShopServer) -> None:
    price = {"id": TEE, "metadata": {"sandbox_stock": "9"}}
    delivery = server.stripe.delivery(server.stripe.event("price.updated", price))
    assert stripe_shop.parse_webhook(delivery.body, delivery.headers).kind is EventKind.IGNORED


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# What the adapter reads of a session, a charge or a price, each with any JSON value.
_objects = st.fixed_dictionaries(
    {},
    optional={
        key: _json | st.text()
        for key in ("id", "metadata", "client_reference_id", "payment_intent", "payment_status")
    },
)
# Mostly well-formed events (id, type, data.object present) so the reading is reached often.
_events = st.fixed_dictionaries(
    {
        "object": st.just("event"),
        "id": st.text() | _json,
        "type": st.sampled_from(
            [
                "checkout.session.completed",
                "checkout.session.expired",
                "charge.refunded",
                "price.updated",
            ]
        )
        | _json,
        "data": st.fixed_dictionaries({"object": _objects | _json}) | _json,
    },
    optional={"created": st.integers() | _json},
)
# The adapter fixture holds no state that parse_webhook changes, so sharing it is sound.
_examples = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _outcome(shop: SandboxShop, body: bytes, headers: dict[str, str]) -> None:
    try:
        result = shop.parse_webhook(body, headers)
    except WebhookRejected as rejected:
        assert rejected.status in (400, 401)
        return
    assert isinstance(result, ShopEvent)


@_examples
@given(
    body=st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()),
    headers=st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=3),
    signed=st.booleans(),
)
def test_parse_webhook_on_any_body_and_headers_returns_an_event_or_rejects(
    sandbox_shop: SandboxShop, body: bytes, headers: dict[str, str], signed: bool
) -> None:
    _outcome(sandbox_shop, body, {**headers, **_signed(body)} if signed else headers)


@_examples
@given(event=_events)
def test_parse_webhook_on_any_signed_event_shape_returns_an_event_or_rejects(
    sandbox_shop: SandboxShop, event: dict[str, object]
) -> None:
    body = json.dumps(event).encode()
    _outcome(sandbox_shop, body, _signed(body))
