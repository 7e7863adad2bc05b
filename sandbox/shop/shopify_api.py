"""The sandbox shop's Shopify-shaped Admin GraphQL API, and the "fan" that pays through it.

Not a GraphQL engine: it recognises the few operations dropbell's Shopify adapter sends (by root
field) and answers in Shopify's shapes: ``data``, ``errors``, ``userErrors`` and
``extensions.cost`` drawn from a real leaky bucket, so a client that throttles from the cost data
can be tested against it. Variant ids are the catalog's numeric ids, as ``gid://shopify/…`` GIDs.
Fault switches and the request log are the composing server's job (``SandboxShop``'s
middleware); ``faults_and_log`` does the same for ``routes()`` served on their own.

Webhook deliveries are signed like Shopify's: ``X-Shopify-Hmac-Sha256`` is base64 of
HMAC-SHA256(raw body, webhook secret). ``paid_delivery``/``refund_delivery``/``restock_delivery``
change the shop and return the delivery unsent (for tampering); ``complete``/``refund``/
``restock`` also POST it to ``webhook_url``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from .catalog import Catalog, CatalogProduct

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GRAPHQL_PATH = "/admin/api/{version}/graphql.json"
VARIANT_GID = "gid://shopify/ProductVariant/"
INVENTORY_ITEM_GID = "gid://shopify/InventoryItem/"
DISCOUNT_GID = "gid://shopify/DiscountCodeNode/"
# Shopify gives mutations a flat cost of 10; objects cost 1, connections 2 plus their page size.
MUTATION_COST = 10
ROOT_FIELDS = "productVariants productVariant discountCodeBasicCreate codeDiscountNodeByCode"
ROOT_FIELDS += " discountCodeDelete"


@dataclass
class SandboxDiscount:
    node_id: str
    code: str
    variant_id: str
    title: str
    usage_limit: int | None
    used: int = 0


@dataclass
class SandboxOrder:
    id: int
    variant_id: str
    code: str | None
    claim_ref: str | None
    refunded: bool = False


@dataclass
class Delivery:
    """One webhook delivery, as Shopify would POST it: re-send it to replay the same event."""

    body: bytes
    headers: dict[str, str]


@dataclass
class CostBucket:
    """Shopify's leaky bucket: a query runs only if its requested cost is available."""

    maximum: float = 1000.0
    restore_rate: float = 50.0
    available: float = 1000.0
    updated_at: float = field(default_factory=time.monotonic)

    def refill(self) -> None:
        now, elapsed = time.monotonic(), time.monotonic() - self.updated_at
        self.available = min(self.maximum, self.available + elapsed * self.restore_rate)
        self.updated_at = now


def inventory_item_id(variant_id: str) -> int:
    """The inventory item of a variant: a different number, as in Shopify (one per variant)."""
    return int(variant_id) + 700_000_000_000


class ShopifyApi:
    def __init__(
        self,
        catalog: Catalog,
        webhook_secret: str,
        admin_token: str = "shpat_sandbox",
        *,
        shop_domain: str = "dropbell-sandbox.myshopify.com",
        webhook_url: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.shop_domain = shop_domain
        self.webhook_url = webhook_url  # where complete/refund/restock POST their deliveries
        self.bucket = CostBucket()
        self.discounts: dict[str, SandboxDiscount] = {}  # by upper-cased code
        self.orders: dict[int, SandboxOrder] = {}
        self.throttled = 0  # how many THROTTLED answers were given
        self._webhook_secret = webhook_secret.encode()
        self._admin_token = admin_token
        self._rate_tokens = float("inf")  # the request-rate fault's bucket (full)
        self._rate_at = time.monotonic()

    def set_bucket(self, maximum: float, restore_rate: float) -> None:
        """Resize the cost bucket (full again), e.g. to show a client waits instead of failing."""
        self.bucket = CostBucket(maximum, restore_rate, maximum)

    def routes(self) -> list[web.RouteDef]:
        """The API alone: ``SandboxShop`` mounts it behind its fault-and-log middleware."""
        return [web.post(GRAPHQL_PATH, self._graphql)]

    @web.middleware
    async def faults_and_log(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """For serving ``routes()`` on their own (tests): ``Catalog.faults``, ``.requests``."""
        if not request.path.startswith("/admin/api/"):
            return await handler(request)  # e.g. a test's webhook receiver on the same server
        response = await self._fault() or await handler(request)
        self.catalog.requests.append((request.method, request.path, response.status))
        return response

    async def _fault(self) -> web.Response | None:
        faults = self.catalog.faults
        if faults.slow_seconds:
            await asyncio.sleep(faults.slow_seconds)
        if faults.down:
            return web.json_response({"errors": "Service Unavailable"}, status=503)
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return web.json_response({"errors": "Internal Server Error"}, status=500)
        rate, now = faults.rate_limit_per_second, time.monotonic()
        if not rate:
            return None
        # One second's worth of requests as a token bucket; Shopify's Retry-After is fractional.
        tokens = min(rate, self._rate_tokens + (now - self._rate_at) * rate)
        self._rate_tokens, self._rate_at = tokens - (tokens >= 1), now
        if tokens >= 1:
            return None
        headers = {"Retry-After": f"{(1 - tokens) / rate:.3f}"}
        return web.json_response(
            {"errors": "Exceeded the rate limit."}, status=429, headers=headers
        )

    # ----- the API -----

    async def _graphql(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Shopify-Access-Token") != self._admin_token:
            return web.json_response(
                {"errors": "[API] Invalid API key or access token (unrecognized login)"},
                status=401,
            )
        try:
            payload = await request.json()
            query = str(payload["query"])
            variables = dict(payload.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return web.json_response({"errors": [{"message": "Bad JSON body"}]}, status=400)
        root = next((f for f in ROOT_FIELDS.split() if re.search(rf"\b{f}\s*\(", query)), None)
        if root is None:
            error = {"message": "sandbox: unsupported operation", "extensions": {"code": "NO"}}
            return web.json_response({"errors": [error]})
        return self._run(root, variables)

    def _run(self, root: str, variables: dict[str, Any]) -> web.Response:
        first = variables.get("first")
        page = first if isinstance(first, int) else 25
        requested = {"productVariants": page + 2, "productVariant": 2}.get(root, MUTATION_COST)
        self.bucket.refill()
        if requested > self.bucket.available:
            self.throttled += 1
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
            return web.json_response({"errors": [error], "extensions": self._cost(requested)})
        self.bucket.available -= requested
        data, actual = getattr(self, f"_op_{root}")(variables, page)
        self.bucket.available += max(0, requested - actual)  # Shopify refunds the unused part
        return web.json_response({"data": data, "extensions": self._cost(requested, actual)})

    def _cost(self, requested: int, actual: int | None = None) -> dict[str, Any]:
        status = {
            "maximumAvailable": self.bucket.maximum,
            "currentlyAvailable": round(self.bucket.available, 3),
            "restoreRate": self.bucket.restore_rate,
        }
        cost = {"requestedQueryCost": requested, "actualQueryCost": actual}
        return {"cost": {**cost, "throttleStatus": status}}

    def _variant(self, product: CatalogProduct) -> dict[str, Any]:
        return {
            "id": VARIANT_GID + product.id,
            "title": "Default Title",
            "price": f"{product.price_cents / 100:.2f}",
            "inventoryQuantity": product.stock,
            "inventoryItem": {"id": INVENTORY_ITEM_GID + str(inventory_item_id(product.id))},
            "product": {"title": product.name},
        }

    def _variants(self) -> list[CatalogProduct]:
        # Shopify variant ids are numbers; the Stripe side's "price_…" ids are not ours.
        return [p for p in self.catalog.products.values() if p.id.isdigit()]

    def _shop(self) -> dict[str, Any]:
        variants = self._variants()
        return {"currencyCode": (variants[0].currency if variants else "eur").upper()}

    def _op_productVariants(self, variables: dict[str, Any], page: int) -> tuple[Any, int]:
        text = str(variables.get("query") or "").lower()
        nodes = [self._variant(p) for p in self._variants() if text in p.name.lower()][:page]
        return {"productVariants": {"nodes": nodes}, "shop": self._shop()}, len(nodes) + 2

    def _op_productVariant(self, variables: dict[str, Any], _: int) -> tuple[Any, int]:
        product = self._by_gid(variables.get("id"))
        variant = self._variant(product) if product else None
        return {"productVariant": variant, "shop": self._shop()}, 2

    def _by_gid(self, gid: object) -> CatalogProduct | None:
        number = gid.removeprefix(VARIANT_GID) if isinstance(gid, str) else ""
        return next((p for p in self._variants() if p.id == number), None)

    def _op_discountCodeBasicCreate(self, variables: dict[str, Any], _: int) -> tuple[Any, int]:
        discount = variables.get("basicCodeDiscount") or {}
        code = str(discount.get("code") or "")
        items = (discount.get("customerGets") or {}).get("items") or {}
        variants = (items.get("products") or {}).get("productVariantsToAdd") or []
        product = self._by_gid(variants[0]) if len(variants) == 1 else None
        if not code or code.upper() in self.discounts or product is None:
            error = (
                ("code", "BLANK", "Code can't be blank") if not code
                else ("code", "TAKEN", "Code must be unique. Please try a different code.")
                if code.upper() in self.discounts
                else ("customerGets", "INVALID", "Product variant is invalid or does not exist")
            )  # fmt: skip
            field_name, error_code, message = error
            user_error = {"field": ["basicCodeDiscount", field_name], "code": error_code}
            user_error["message"] = message
            payload: dict[str, Any] = {"codeDiscountNode": None, "userErrors": [user_error]}
            return {"discountCodeBasicCreate": payload}, MUTATION_COST
        node_id = f"{DISCOUNT_GID}{self.catalog.next_id()}"
        title = str(discount.get("title") or code)
        limit = discount.get("usageLimit")
        self.discounts[code.upper()] = SandboxDiscount(node_id, code, product.id, title, limit)
        payload = {"codeDiscountNode": {"id": node_id}, "userErrors": []}
        return {"discountCodeBasicCreate": payload}, MUTATION_COST

    def _op_codeDiscountNodeByCode(self, variables: dict[str, Any], _: int) -> tuple[Any, int]:
        found = self.discounts.get(str(variables.get("code") or "").upper())
        return {"codeDiscountNodeByCode": {"id": found.node_id} if found else None}, 2

    def _op_discountCodeDelete(self, variables: dict[str, Any], _: int) -> tuple[Any, int]:
        node_id = variables.get("id")
        code = next((c for c, d in self.discounts.items() if d.node_id == node_id), None)
        error = {"field": ["id"], "code": "INVALID", "message": "Discount does not exist"}
        if code is not None:
            del self.discounts[code]
        payload = {"deletedCodeDiscountId": node_id if code else None}
        return {"discountCodeDelete": {**payload, "userErrors": [] if code else [error]}}, 10

    # ----- the "fan": orders, refunds and restocks, as signed webhook deliveries -----

    def sign(self, body: bytes, topic: str) -> Delivery:
        digest = hmac.new(self._webhook_secret, body, hashlib.sha256).digest()
        return Delivery(
            body,
            {
                "Content-Type": "application/json",
                "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": self.shop_domain,
                "X-Shopify-API-Version": "2025-10",
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Triggered-At": _now_iso(),
            },
        )

    def paid_delivery(self, code: str) -> Delivery:
        """A fan pays through the link carrying ``code``: one unit sold, ``orders/paid`` unsent.

        The order carries the claim the adapter put in the discount's title as its
        ``dropbell_claim`` attribute (what the cart permalink's attribute would have become).
        Raises ``LookupError`` for an unknown (or deleted) code and ``ValueError`` when the code
        is used up or the variant is sold out, as Shopify's checkout would refuse them.
        """
        discount = self._usable_discount(code)
        return self._place_order(discount.variant_id, discount, _claim_ref(discount.title))

    def checkout_delivery(self, url: str) -> Delivery:
        """A fan opens a cart permalink (perhaps edited) and pays: ``orders/paid`` unsent.

        ``https://SHOP/cart/VARIANT:1?discount=CODE&attributes[dropbell_claim]=REF``: the
        discount applies only if it exists; the attributes become ``note_attributes``.
        """
        parsed = urllib.parse.urlsplit(url)
        variant_id = parsed.path.rsplit("/", 1)[-1].split(":")[0]
        query = dict(urllib.parse.parse_qsl(parsed.query))
        code = query.get("discount")
        discount = self._usable_discount(code) if code and code.upper() in self.discounts else None
        if discount is not None and discount.variant_id != variant_id:
            discount = None  # a code for another variant does not apply to this cart
        return self._place_order(variant_id, discount, query.get("attributes[dropbell_claim]"))

    def _usable_discount(self, code: str) -> SandboxDiscount:
        discount = self.discounts.get(code.upper())
        if discount is None:
            raise LookupError(f"no discount code {code!r}")
        if discount.usage_limit is not None and discount.used >= discount.usage_limit:
            raise ValueError(f"discount code {code!r} is used up")
        return discount

    def _place_order(
        self, variant_id: str, discount: SandboxDiscount | None, claim_ref: str | None
    ) -> Delivery:
        product = self.catalog.products[variant_id]
        if product.stock < 1:
            raise ValueError(f"variant {product.id} is sold out")
        product.stock -= 1
        if discount is not None:
            discount.used += 1
        code = discount.code if discount else None
        order = SandboxOrder(5_000_000_000 + self.catalog.next_id(), product.id, code, claim_ref)
        self.orders[order.id] = order
        price = f"{product.price_cents / 100:.2f}"
        line = {"variant_id": int(product.id), "title": product.name, "quantity": 1}
        payload = {
            "id": order.id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
            "created_at": _now_iso(),
            "processed_at": _now_iso(),
            "financial_status": "paid",
            "currency": product.currency.upper(),
            "total_price": price,
            "discount_codes": [{"code": code, "amount": "0.00", "type": "percentage"}]
            if code
            else [],
            "note_attributes": [{"name": "dropbell_claim", "value": claim_ref}]
            if claim_ref
            else [],
            "line_items": [{**line, "price": price}],
        }
        return self.sign(_json(payload), "orders/paid")

    def refund_delivery(self, order_id: int) -> Delivery:
        """The shop refunds an order in full: ``refunds/create``, unsent."""
        order = self.orders[order_id]
        order.refunded = True
        line = {"quantity": 1, "line_item": {"variant_id": int(order.variant_id)}}
        refund_id = 9_000_000_000 + self.catalog.next_id()
        payload = {"id": refund_id, "order_id": order.id, "created_at": _now_iso()}
        payload["refund_line_items"] = [line]
        return self.sign(_json(payload), "refunds/create")

    def restock_delivery(self, variant_id: str, quantity: int) -> Delivery:
        """``quantity`` more units of a variant arrive: ``inventory_levels/update``, unsent.

        The payload carries the inventory item (not the variant) and the new ``available``
        count at the shop's one location, as Shopify's does.
        """
        product = self.catalog.products[variant_id]
        product.stock += quantity
        payload = {
            "inventory_item_id": inventory_item_id(variant_id),
            "location_id": 655_441_491,
            "available": product.stock,
            "updated_at": _now_iso(),
        }
        return self.sign(_json(payload), "inventory_levels/update")

    async def send(self, delivery: Delivery) -> int:
        """POST a delivery to ``webhook_url``; the receiver's status."""
        if self.webhook_url is None:
            raise RuntimeError("ShopifyApi.webhook_url is not set; nowhere to deliver to")
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_url, data=delivery.body, headers=delivery.headers) as resp,
        ):
            return resp.status

    async def sent(self, delivery: Delivery) -> Delivery:
        await self.send(delivery)
        return delivery

    async def complete(self, code: str) -> Delivery:
        return await self.sent(self.paid_delivery(code))

    async def checkout(self, url: str) -> Delivery:
        return await self.sent(self.checkout_delivery(url))

    async def refund(self, order_id: int) -> Delivery:
        return await self.sent(self.refund_delivery(order_id))

    async def restock(self, variant_id: str, quantity: int) -> Delivery:
        return await self.sent(self.restock_delivery(variant_id, quantity))


def _claim_ref(title: str) -> str | None:
    # The cart permalink's attributes reach the order as note_attributes; the sandbox has no cart,
    # so the claim travels in the discount's title ("dropbell <claim_ref>") the adapter sets.
    prefix = "dropbell "
    return title[len(prefix) :] if title.startswith(prefix) else None


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
