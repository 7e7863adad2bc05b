"""The real Shopify adapter over HTTP against the sandbox's Shopify-shaped API on 127.0.0.1.

Webhooks travel the real way too: the sandbox's "fan" POSTs signed deliveries to a small
receiver in the same test server, which answers with the adapter's verdict.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.shop.catalog import Catalog
from sandbox.shop.shopify_api import Delivery, ShopifyApi
from shops.base import EventKind, ShopEvent, ShopRefused, ShopUnavailable, WebhookRejected
from shops.shopify import ShopifyShop

TOKEN = "shpat_test_token_0123456789abcdef"
SECRET = "shopify-webhook-secret-for-tests"
HOODIE, TEE = "44012345678", "44012345679"
GRAPHQL = "/admin/api/2025-10/graphql.json"


@dataclass
class ShopifyRig:
    api: ShopifyApi
    catalog: Catalog
    shop: ShopifyShop
    events: list[ShopEvent] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # the receiver's answers, in order


@pytest.fixture
async def shopify_rig() -> AsyncIterator[ShopifyRig]:
    catalog = Catalog()
    catalog.add_product(HOODIE, "Night Hoodie", 6500, stock=5)
    catalog.add_product(TEE, "Day Tee", 2500, stock=3)
    catalog.add_product("price_123", "A Stripe price", 100, stock=1)  # not a Shopify variant
    api = ShopifyApi(catalog, SECRET, TOKEN)
    rig: ShopifyRig

    async def receive(request: web.Request) -> web.Response:
        try:
            event = rig.shop.parse_webhook(await request.read(), request.headers)
        except WebhookRejected as exc:
            rig.statuses.append(exc.status)
            return web.Response(status=exc.status)
        rig.events.append(event)
        rig.statuses.append(200)
        return web.Response(status=200)

    app = web.Application(middlewares=[api.faults_and_log])
    app.add_routes([*api.routes(), web.post("/webhooks/main", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.webhook_url = f"http://127.0.0.1:{port}/webhooks/main"
    shop = ShopifyShop(
        "main", "drops.myshopify.com", TOKEN, SECRET, api_base=f"http://127.0.0.1:{port}",
        backoff_seconds=0.01,
    )  # fmt: skip
    rig = ShopifyRig(api, catalog, shop)
    try:
        yield rig
    finally:
        await shop.aclose()
        await runner.cleanup()


async def test_lists_variants_with_price_currency_and_stock(shopify_rig: ShopifyRig) -> None:
    products = await shopify_rig.shop.list_products()
    assert [(p.id, p.name, p.price_cents, p.currency, p.stock) for p in products] == [
        (HOODIE, "Night Hoodie", 6500, "eur", 5),
        (TEE, "Day Tee", 2500, "eur", 3),
    ]
    assert [p.id for p in await shopify_rig.shop.list_products("HOOD")] == [HOODIE]
    by_gid = await shopify_rig.shop.get_product(f"gid://shopify/ProductVariant/{TEE}")
    assert by_gid == await shopify_rig.shop.get_product(TEE)
    with pytest.raises(ShopRefused):
        await shopify_rig.shop.get_product("44000000000")
    with pytest.raises(ShopRefused):
        await shopify_rig.shop.get_product("price_123")


async def test_issue_link_is_idempotent_per_claim_and_unique_per_claim(
    shopify_rig: ShopifyRig,
) -> None:
    shop = shopify_rig.shop
    first = await shop.issue_link(HOODIE, "dropbell-12-37")
    again = await shop.issue_link(HOODIE, "dropbell-12-37")
    other = await shop.issue_link(HOODIE, "dropbell-12-38")
    assert first == again
    assert first.link_id != other.link_id
    assert first.link_id.startswith("DB-DROPBELL-12-37-")
    assert len(shopify_rig.api.discounts) == 2  # the repeat created nothing new
    url = urllib.parse.urlsplit(first.url)
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "drops.myshopify.com",
        f"/cart/{HOODIE}:1",
    )
    assert dict(urllib.parse.parse_qsl(url.query)) == {
        "discount": first.link_id,
        "attributes[dropbell_claim]": "dropbell-12-37",
    }
    # The code's random-looking part comes from the secret: another secret, another code.
    stranger = ShopifyShop("x", "drops.myshopify.com", TOKEN, "another-secret")
    assert stranger.code_for("dropbell-12-37") != first.link_id
    await stranger.aclose()


async def test_issue_links_in_bulk_keeps_order_and_refuses_unknown_variants(
    shopify_rig: ShopifyRig,
) -> None:
    refs = [f"dropbell-3-{n}" for n in range(12)]
    links = await shopify_rig.shop.issue_links(TEE, refs)
    assert [link.link_id for link in links] == [shopify_rig.shop.code_for(r) for r in refs]
    assert len({link.link_id for link in links}) == 12
    with pytest.raises(ShopRefused, match="has no variant '44000000000'"):
        await shopify_rig.shop.issue_link("44000000000", "dropbell-3-99")


async def test_expired_link_no_longer_sells_and_expiring_twice_is_fine(
    shopify_rig: ShopifyRig,
) -> None:
    shop, api = shopify_rig.shop, shopify_rig.api
    link = await shop.issue_link(HOODIE, "dropbell-5-1")
    await shop.expire_link(link.link_id)
    assert link.link_id.upper() not in api.discounts
    with pytest.raises(LookupError):
        api.paid_delivery(link.link_id)
    await shop.expire_link(link.link_id)
    await shop.expire_link("DB-NEVER-ISSUED-AAAAAAAAAA")
    # Issuing the same claim again brings the very same code (and URL) back to life.
    assert await shop.issue_link(HOODIE, "dropbell-5-1") == link
    assert link.link_id.upper() in api.discounts


async def test_waits_for_the_cost_bucket_instead_of_failing(shopify_rig: ShopifyRig) -> None:
    shop, api = shopify_rig.shop, shopify_rig.api
    api.set_bucket(maximum=30, restore_rate=50)  # three creates' worth, refilled in 0.6 s
    started = time.monotonic()
    links = await shop.issue_links(HOODIE, [f"dropbell-7-{n}" for n in range(10)])
    elapsed = time.monotonic() - started
    assert len(links) == 10
    # 100 points through a 30-point bucket at 50/s: at least 1.4 s of waiting, no failure.
    assert elapsed >= 1.3
    # Only the first concurrent wave, sent before any cost data came back, can be throttled.
    assert api.throttled == shop.throttled_answers <= 4
    before = api.throttled
    for n in range(6):
        await shop.issue_link(TEE, f"dropbell-8-{n}")
    assert api.throttled == before  # now it knows the cost and waits first


async def test_throttled_answer_is_waited_out_from_its_cost_data(shopify_rig: ShopifyRig) -> None:
    shop, api = shopify_rig.shop, shopify_rig.api
    await shop.list_products()  # learns the bucket and the query's cost (27)
    api.set_bucket(maximum=30, restore_rate=30)
    api.bucket.available = 0  # empty, though our last answer said nearly full
    products = await shop.list_products()
    assert len(products) == 2
    assert api.throttled == 1  # one THROTTLED, then a wait computed from it, then success


async def test_500s_are_retried_then_succeed(shopify_rig: ShopifyRig) -> None:
    shopify_rig.catalog.faults.fail_next = 2
    assert len(await shopify_rig.shop.list_products()) == 2
    assert shopify_rig.catalog.count("POST", GRAPHQL, 500) == 2
    assert shopify_rig.catalog.count("POST", GRAPHQL, 200) == 1


async def test_429_is_retried_after_retry_after(shopify_rig: ShopifyRig) -> None:
    shopify_rig.catalog.faults.rate_limit_per_second = 4
    for n in range(8):
        await shopify_rig.shop.issue_link(HOODIE, f"dropbell-9-{n}")
    assert shopify_rig.catalog.count("POST", GRAPHQL, 429) >= 1
    assert len(shopify_rig.api.discounts) == 8


async def test_concurrent_creates_under_a_request_limit_all_arrive(
    shopify_rig: ShopifyRig,
) -> None:
    # Four creates in flight against 10 requests/s: several 429s in a row for one create are
    # normal here, and must not add up to a failure.
    shopify_rig.catalog.faults.rate_limit_per_second = 10
    started = time.monotonic()
    links = await shopify_rig.shop.issue_links(TEE, [f"dropbell-10-{n}" for n in range(30)])
    assert len(links) == 30 and len(shopify_rig.api.discounts) == 30
    assert shopify_rig.catalog.count("POST", GRAPHQL, 429) >= 4
    assert shopify_rig.catalog.count("POST", GRAPHQL, 200) == 31  # one lookup, 30 creates
    assert time.monotonic() - started < 31 / 10 * 2  # near the limit (loose: shared machine)


async def test_a_shop_that_is_down_is_one_clear_sentence_without_the_token(
    shopify_rig: ShopifyRig, caplog: pytest.LogCaptureFixture
) -> None:
    shopify_rig.catalog.faults.down = True
    with pytest.raises(ShopUnavailable) as failure:
        await shopify_rig.shop.list_products()
    message = str(failure.value)
    assert message == (
        "Shopify shop 'main' kept failing (HTTP 503) after 4 attempts; "
        "check the shop's status and try again shortly."
    )
    assert TOKEN not in message and TOKEN not in caplog.text and SECRET not in caplog.text
    assert shopify_rig.catalog.count("POST", GRAPHQL, 503) == 4


async def test_a_shop_too_slow_to_answer_is_unavailable(shopify_rig: ShopifyRig) -> None:
    impatient = ShopifyShop(
        "main", "drops.myshopify.com", TOKEN, SECRET, api_base=_api_base(shopify_rig),
        timeout_seconds=0.2, max_attempts=2, backoff_seconds=0.01,
    )  # fmt: skip
    shopify_rig.catalog.faults.slow_seconds = 0.5
    with pytest.raises(ShopUnavailable, match="did not answer in time after 2 attempts"):
        await impatient.list_products()
    shopify_rig.catalog.faults.slow_seconds = 0.05  # slow but in time: just slower
    assert len(await impatient.list_products()) == 2
    await impatient.aclose()


def _api_base(rig: ShopifyRig) -> str:
    return str(rig.api.webhook_url).split("/webhooks")[0]


async def test_a_wrong_token_is_refused_not_retried(shopify_rig: ShopifyRig) -> None:
    wrong = ShopifyShop(
        "main", "drops.myshopify.com", "shpat_wrong", SECRET,
        api_base=_api_base(shopify_rig),
    )  # fmt: skip
    with pytest.raises(ShopRefused, match="refused the admin token") as failure:
        await wrong.list_products()
    await wrong.aclose()
    assert "shpat_wrong" not in str(failure.value)
    assert shopify_rig.catalog.count("POST", GRAPHQL, 401) == 1


async def test_a_paid_order_comes_back_to_its_link(shopify_rig: ShopifyRig) -> None:
    link = await shopify_rig.shop.issue_link(HOODIE, "dropbell-12-37")
    delivery = await shopify_rig.api.complete(link.link_id)
    order_id = next(iter(shopify_rig.api.orders))
    [event] = shopify_rig.events
    assert event.kind is EventKind.PAID
    assert (event.link_id, event.claim_ref, event.order_ref) == (
        link.link_id, "dropbell-12-37", str(order_id),
    )  # fmt: skip
    assert event.event_id == delivery.headers["X-Shopify-Event-Id"]
    assert event.occurred_at is not None
    assert shopify_rig.catalog.products[HOODIE].stock == 4
    with pytest.raises(ValueError, match="used up"):
        shopify_rig.api.paid_delivery(link.link_id)  # usageLimit 1: one order per link


async def test_the_code_wins_over_an_edited_attribute(shopify_rig: ShopifyRig) -> None:
    link = await shopify_rig.shop.issue_link(HOODIE, "dropbell-12-37")
    edited = link.url.replace("dropbell-12-37", "dropbell-12-99")
    await shopify_rig.api.checkout(edited)
    [event] = shopify_rig.events
    assert (event.link_id, event.claim_ref) == (link.link_id, "dropbell-12-99")


async def test_the_attribute_attributes_an_order_without_the_code(
    shopify_rig: ShopifyRig,
) -> None:
    link = await shopify_rig.shop.issue_link(TEE, "dropbell-12-40")
    without_code = link.url.replace(f"discount={link.link_id}&", "")
    await shopify_rig.api.checkout(without_code)
    [event] = shopify_rig.events
    assert (event.kind, event.link_id, event.claim_ref) == (EventKind.PAID, None, "dropbell-12-40")


async def test_signatures_bodies_topics_and_replays(shopify_rig: ShopifyRig) -> None:
    api = shopify_rig.api
    link = await shopify_rig.shop.issue_link(HOODIE, "dropbell-1-1")
    paid = api.paid_delivery(link.link_id)
    tampered = Delivery(paid.body.replace(b"dropbell-1-1", b"dropbell-1-2"), paid.headers)
    unsigned = Delivery(paid.body, {k: v for k, v in paid.headers.items() if "Hmac" not in k})
    not_json = api.sign(b"<order>not json</order>", "orders/paid")
    a_list = api.sign(b"[1, 2]", "orders/paid")
    unknown = api.sign(b'{"id": 1}', "products/update")
    for delivery in (tampered, unsigned, not_json, a_list, unknown, paid, paid):
        await api.send(delivery)
    assert shopify_rig.statuses == [401, 401, 400, 400, 200, 200, 200]
    ignored, first, replay = shopify_rig.events
    assert ignored.kind is EventKind.IGNORED
    assert first == replay  # the same delivery again: the same event id, deduplicated upstream
    assert first.event_id == paid.headers["X-Shopify-Event-Id"]


async def test_refunds_and_restocks(shopify_rig: ShopifyRig) -> None:
    shop, api = shopify_rig.shop, shopify_rig.api
    link = await shop.issue_link(HOODIE, "dropbell-2-1")
    await api.complete(link.link_id)
    order_id = next(iter(api.orders))
    await api.refund(order_id)
    await api.restock(TEE, 4)  # not seen by the adapter yet: its inventory item means nothing
    await shop.issue_link(TEE, "dropbell-2-2")  # a link for it teaches the adapter its item
    await api.restock(TEE, 2)
    _, refund, unknown_item, restock = shopify_rig.events
    assert (refund.kind, refund.order_ref, refund.link_id) == (
        EventKind.REFUNDED, str(order_id), None,
    )  # fmt: skip
    assert unknown_item.kind is EventKind.IGNORED
    assert (restock.kind, restock.product_id, restock.quantity) == (EventKind.RESTOCKED, TEE, 9)


_header_names = st.sampled_from(
    ["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Event-Id", "X-Shopify-Webhook-Id",
     "x-shopify-topic", "Content-Type"]
)  # fmt: skip
_topics = st.sampled_from(
    ["orders/paid", "refunds/create", "inventory_levels/update", "orders/cancelled", ""]
)
# Keys and values the parser looks for, so generated bodies reach its every branch.
_words = st.sampled_from(["name", "value", "code", "dropbell_claim", "DB-X-1", "gid://x/1"])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | _words,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_words | st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_entries = _json_values | st.lists(
    st.fixed_dictionaries(
        {"name": st.just("dropbell_claim") | _json_values, "value": _json_values},
        optional={"code": _words | _json_values},
    ),
    min_size=1,
    max_size=3,
)
_ids = st.integers() | _json_values
_order_like = st.fixed_dictionaries(
    {"id": _ids, "discount_codes": _entries, "note_attributes": _entries},
    optional={
        "order_id": _ids, "inventory_item_id": _ids, "available": _json_values,
        "processed_at": _json_values, "created_at": _json_values,
    },
)  # fmt: skip


# Built once: an httpx client (behind the parser) is slow to make, and no example sends anything.
_PARSER = ShopifyShop("main", "drops.myshopify.com", TOKEN, SECRET)
_SIGNER = ShopifyApi(Catalog(), SECRET, TOKEN)


def _parse_or_reject(body: bytes, headers: dict[str, str]) -> None:
    try:
        event = _PARSER.parse_webhook(body, headers)
    except WebhookRejected as exc:
        assert exc.status in (400, 401)
    else:
        assert isinstance(event, ShopEvent) and event.event_id


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=200) | _json_values.map(lambda d: json.dumps(d).encode()),
    headers=st.dictionaries(_header_names, st.text(max_size=40), max_size=5),
)
def test_parse_webhook_over_any_delivery_returns_an_event_or_rejects(
    body: bytes, headers: dict[str, str]
) -> None:
    _parse_or_reject(body, headers)


@settings(max_examples=300, deadline=None)
@given(
    body=_order_like.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=100),
    headers=st.dictionaries(_header_names, st.text(max_size=40), max_size=3),
    topic=st.just("orders/paid") | _topics,
)
def test_parse_webhook_over_signed_bodies_returns_an_event_or_rejects(
    body: bytes, headers: dict[str, str], topic: str
) -> None:
    # Correctly signed, so the body's parsing is what gets exercised.
    _parse_or_reject(body, {**headers, **_SIGNER.sign(body, topic).headers})
