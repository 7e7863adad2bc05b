"""Shopify through the Admin GraphQL API (httpx): variants, one discount code per link, webhooks.

Decisions, so the services and the README can rely on them:
- A product id is the variant's numeric id ("44012345678"); a ``gid://shopify/ProductVariant/…``
  GID is accepted wherever an id is taken.
- A link is a cart permalink carrying a discount code of its own and the claim as a cart
  attribute; ``link_id`` is the code. The code is ``DB-<claim_ref>-<10 base32 characters of an
  HMAC of claim_ref under the webhook secret>``: the same claim_ref always gives the same code (so
  a repeated or retried create is the same link), and nobody without the secret can guess a code.
- One ``discountCodeBasicCreate`` per code rather than ``discountRedeemCodeBulkAdd``: a basic code
  has its own ``usageLimit: 1`` and can be deleted alone, and the create answers synchronously;
  bulk-added codes share their parent's usage limit, are created asynchronously (to be polled),
  and are deleted by another asynchronous job. ``issue_links`` creates many concurrently, paced
  by the cost bucket.
- Expiring deletes the code; issuing the same claim_ref again re-creates the very same code.
- Restocks: an ``inventory_levels/update`` names an inventory item, not a variant, and carries one
  location's ``available``. Only inventory items this adapter has seen on a variant it listed or
  fetched are mapped (``get_product`` on the drop's product is enough); others are IGNORED.
- ``refunds/create`` is REFUNDED (by order id only: Shopify's refund carries no code or
  attributes). ``orders/cancelled`` is IGNORED: a paid order cancelled with a refund also sends
  ``refunds/create``.
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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from .base import EventKind, IssuedLink, Product, ShopEvent, ShopRefused, ShopUnavailable
from .base import WebhookRejected as Rejected

VARIANT_GID = "gid://shopify/ProductVariant/"
CLAIM_ATTRIBUTE = "dropbell_claim"
CODE_PREFIX = "DB-"
MAX_THROTTLED_RETRIES = 30
_VARIANT_FIELDS = "id title price inventoryQuantity inventoryItem { id } product { title }"
LIST_VARIANTS = f"""query DropbellVariants($first: Int!, $query: String) {{
  productVariants(first: $first, query: $query) {{ nodes {{ {_VARIANT_FIELDS} }} }}
  shop {{ currencyCode }}
}}"""
GET_VARIANT = f"""query DropbellVariant($id: ID!) {{
  productVariant(id: $id) {{ {_VARIANT_FIELDS} }}
  shop {{ currencyCode }}
}}"""
CREATE_CODE = """mutation DropbellCreateCode($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""
FIND_CODE = """query DropbellFindCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}"""
DELETE_CODE = """mutation DropbellDeleteCode($id: ID!) {
  discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } }
}"""
ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "isk", "huf", "twd", "ugx"}


class _CostBucket:
    """Our picture of Shopify's leaky bucket, from the last ``throttleStatus`` it sent."""

    def __init__(self) -> None:
        self.maximum: float | None = None
        self.available = 0.0
        self.restore_rate = 0.0
        self.updated_at = time.monotonic()
        self._lock = asyncio.Lock()

    def observe(self, status: Any) -> None:
        try:
            maximum = float(status["maximumAvailable"])
            available = float(status["currentlyAvailable"])
            restore_rate = float(status["restoreRate"])
        except (TypeError, KeyError, ValueError):
            return
        self.maximum, self.available, self.restore_rate = maximum, available, restore_rate
        self.updated_at = time.monotonic()

    def _projected(self) -> float:
        assert self.maximum is not None
        elapsed = time.monotonic() - self.updated_at
        return min(self.maximum, self.available + elapsed * self.restore_rate)

    def seconds_until(self, cost: float) -> float:
        if self.maximum is None or self.restore_rate <= 0:
            return 0.0
        return max(0.0, (min(cost, self.maximum) - self._projected()) / self.restore_rate)

    async def reserve(self, cost: float | None) -> None:
        """Wait until ``cost`` points are free, then count them as spent until Shopify says.

        The lock queues callers, so concurrent creates do not all spend the same points.
        """
        if cost is None or self.maximum is None:
            return  # nothing known yet: the first answer tells us
        async with self._lock:
            wait = self.seconds_until(cost)
            if wait > 0:
                await asyncio.sleep(wait)
            self.available = self._projected() - min(cost, self.maximum)
            self.updated_at = time.monotonic()


class ShopifyShop:
    kind = "shopify"

    def __init__(
        self,
        name: str,
        shop_domain: str,
        admin_token: str,
        webhook_secret: str,
        api_version: str = "2025-10",
        api_base: str | None = None,
        *,
        discount_percentage: float = 0.0,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.25,
        link_concurrency: int = 4,
    ) -> None:
        self.name = name
        self.shop_domain = shop_domain
        base = (api_base or f"https://{shop_domain}").rstrip("/")
        self._endpoint = f"{base}/admin/api/{api_version}/graphql.json"
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, headers={"X-Shopify-Access-Token": admin_token}
        )
        self._secret = webhook_secret.encode()
        # The link's value off the variant's price: 0 makes the code attribution only.
        self._discount_percentage = discount_percentage
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._link_slots = asyncio.Semaphore(link_concurrency)
        self._bucket = _CostBucket()
        self._requested_cost: dict[str, float] = {}  # per operation, from Shopify's last answer
        self._variant_of_item: dict[str, str] = {}  # inventory item id -> variant id
        self.throttled_answers = 0  # THROTTLED answers waited out (for tests and metrics)

    # ----- products -----

    async def list_products(self, query: str = "") -> list[Product]:
        variables = {"first": 25, "query": query or None}
        data = await self._graphql("DropbellVariants", LIST_VARIANTS, variables)
        currency = _currency(data)
        nodes = ((data.get("productVariants") or {}).get("nodes")) or []
        products = [self._product(node, currency) for node in nodes]
        # Shopify's search matches words; the interface promises "name contains".
        return [p for p in products if query.lower() in p.name.lower()][:25]

    async def get_product(self, product_id: str) -> Product:
        variables = {"id": VARIANT_GID + self._variant_number(product_id)}
        data = await self._graphql("DropbellVariant", GET_VARIANT, variables)
        node = data.get("productVariant")
        if not node:
            raise ShopRefused(f"Shopify shop {self.name!r} has no variant {product_id!r}.")
        return self._product(node, _currency(data))

    def _product(self, node: dict[str, Any], currency: str | None) -> Product:
        variant_id = str(node["id"]).removeprefix(VARIANT_GID)
        item_id = str((node.get("inventoryItem") or {}).get("id") or "").rsplit("/", 1)[-1]
        if item_id:
            self._variant_of_item[item_id] = variant_id
        title = (node.get("product") or {}).get("title") or ""
        variant_title = node.get("title") or ""
        name = title if variant_title in ("", "Default Title") else f"{title} - {variant_title}"
        stock = node.get("inventoryQuantity")
        return Product(
            id=variant_id,
            name=name or variant_id,
            price_cents=_minor_units(node.get("price"), currency),
            currency=currency,
            stock=stock if isinstance(stock, int) else None,
        )

    def _variant_number(self, product_id: str) -> str:
        number = product_id.strip().removeprefix(VARIANT_GID)
        if not number.isdigit():
            raise ShopRefused(f"{product_id!r} is not a Shopify variant id (a number).")
        return number

    # ----- links -----

    def code_for(self, claim_ref: str) -> str:
        """The discount code of a claim: readable, deterministic, unguessable without the secret."""
        mac = hmac.new(self._secret, b"dropbell-code\0" + claim_ref.encode(), hashlib.sha256)
        slug = re.sub(r"[^A-Z0-9]+", "-", claim_ref.upper()).strip("-")[:40]
        return f"{CODE_PREFIX}{slug}-{base64.b32encode(mac.digest()).decode()[:10]}"

    def permalink(self, variant_id: str, code: str, claim_ref: str) -> str:
        params = urllib.parse.urlencode(
            {"discount": code, f"attributes[{CLAIM_ATTRIBUTE}]": claim_ref}, safe="[]"
        )
        return f"https://{self.shop_domain}/cart/{variant_id}:1?{params}"

    async def issue_link(self, product_id: str, claim_ref: str) -> IssuedLink:
        variant_id = self._variant_number(product_id)
        code = self.code_for(claim_ref)
        discount = {
            "title": f"dropbell {claim_ref}",
            "code": code,
            "startsAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            "context": {"all": "ALL"},
            "customerGets": {
                "value": {"percentage": self._discount_percentage},
                "items": {"products": {"productVariantsToAdd": [VARIANT_GID + variant_id]}},
            },
        }
        async with self._link_slots:
            data = await self._graphql(
                "DropbellCreateCode", CREATE_CODE, {"basicCodeDiscount": discount}
            )
        errors = (data.get("discountCodeBasicCreate") or {}).get("userErrors") or []
        # TAKEN: this claim's code exists already (an earlier or retried create): the same link.
        refusals = [e for e in errors if not (isinstance(e, dict) and e.get("code") == "TAKEN")]
        if refusals:
            raise ShopRefused(
                f"Shopify shop {self.name!r} refused to create a discount code: "
                f"{_message(refusals[0])}."
            )
        return IssuedLink(code, self.permalink(variant_id, code, claim_ref), expires_at=None)

    async def issue_links(self, product_id: str, claim_refs: Sequence[str]) -> list[IssuedLink]:
        """Many links at once (the link pool), in the order of ``claim_refs``.

        Creates run concurrently (``link_concurrency``), paced by the cost bucket. If one fails,
        the others still finish and the first failure is raised: calling again with the same
        claim_refs is safe, since the created ones come back as they are.
        """
        results = await asyncio.gather(
            *(self.issue_link(product_id, ref) for ref in claim_refs), return_exceptions=True
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure
        return [r for r in results if isinstance(r, IssuedLink)]

    async def expire_link(self, link_id: str) -> None:
        for _ in range(2):
            found = await self._graphql("DropbellFindCode", FIND_CODE, {"code": link_id})
            node = found.get("codeDiscountNodeByCode")
            if not node:
                return  # never created, or deleted already: the link is over either way
            data = await self._graphql("DropbellDeleteCode", DELETE_CODE, {"id": node["id"]})
            errors = (data.get("discountCodeDelete") or {}).get("userErrors") or []
            if not errors:
                return
        # It still exists and Shopify would not delete it: worth a manager's attention.
        raise ShopRefused(
            f"Shopify shop {self.name!r} would not delete discount code {link_id}: "
            f"{_message(errors[0])}."
        )

    # ----- the GraphQL call: cost-based throttling, retries, one-sentence failures -----

    async def _graphql(
        self, operation: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        failures = 0
        throttled = 0
        while True:
            await self._bucket.reserve(self._requested_cost.get(operation))
            wait: float | None = None
            try:
                response = await self._client.post(
                    self._endpoint,
                    json={"query": query, "variables": variables, "operationName": operation},
                )
            except httpx.TimeoutException:
                problem = "did not answer in time"
            except httpx.TransportError:
                problem = "could not be reached"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise ShopRefused(
                        f"Shopify shop {self.name!r} refused the admin token (HTTP {status}); "
                        "check admin_token and the app's access scopes."
                    )
                if status == 429:
                    problem = "kept answering 429 (rate limited)"
                    wait = _retry_after(response.headers.get("Retry-After"))
                elif status >= 500:
                    problem = f"kept failing (HTTP {status})"
                elif status >= 400:
                    raise ShopRefused(
                        f"Shopify shop {self.name!r} answered HTTP {status}; "
                        "check shop_domain, api_base and api_version."
                    )
                else:
                    body = _json_object(response.content)
                    if body is None:
                        problem = "answered with something other than GraphQL JSON"
                    else:
                        cost = (body.get("extensions") or {}).get("cost") or {}
                        self._bucket.observe(cost.get("throttleStatus"))
                        requested = cost.get("requestedQueryCost")
                        if isinstance(requested, int | float):
                            self._requested_cost[operation] = float(requested)
                        errors = body.get("errors")
                        if not errors:
                            return body.get("data") or {}
                        if not _is_throttled(errors):
                            raise ShopRefused(
                                f"Shopify shop {self.name!r} rejected {operation}: "
                                f"{_message(errors)}."
                            )
                        throttled += 1
                        self.throttled_answers += 1
                        if throttled > MAX_THROTTLED_RETRIES:
                            raise ShopUnavailable(
                                f"Shopify shop {self.name!r} kept throttling {operation}; "
                                "try again in a minute."
                            )
                        if self._bucket.maximum is None:  # no cost data: back off blindly
                            await asyncio.sleep(self._backoff)
                        continue  # reserve() waits exactly until the requested cost is back
            failures += 1
            if failures >= self._max_attempts:
                raise ShopUnavailable(
                    f"Shopify shop {self.name!r} {problem} after {failures} attempts; "
                    "check the shop's status and try again shortly."
                )
            await asyncio.sleep(wait if wait is not None else self._backoff * 2 ** (failures - 1))

    # ----- webhooks -----

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ShopEvent:
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        signature = lower.get("x-shopify-hmac-sha256", "").strip()
        if not signature:
            raise Rejected(401, "The X-Shopify-Hmac-Sha256 header is missing.")
        expected = base64.b64encode(hmac.new(self._secret, body, hashlib.sha256).digest())
        if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
            raise Rejected(401, "The X-Shopify-Hmac-Sha256 signature does not match the body.")
        payload = _json_object(body)
        if payload is None:
            raise Rejected(400, "The body is not a JSON object.")
        event_id = lower.get("x-shopify-event-id") or lower.get("x-shopify-webhook-id")
        if not event_id:
            raise Rejected(400, "The delivery has no X-Shopify-Event-Id or X-Shopify-Webhook-Id.")
        topic = lower.get("x-shopify-topic", "")
        when = _timestamp(lower.get("x-shopify-triggered-at"))
        if topic == "orders/paid":
            order_ref = _id(payload.get("id"))
            if order_ref is None:
                raise Rejected(400, "The orders/paid body has no order id.")
            return ShopEvent(
                event_id, EventKind.PAID, link_id=_our_code(payload.get("discount_codes")),
                claim_ref=_claim_attribute(payload.get("note_attributes")),
                order_ref=order_ref, occurred_at=when or _timestamp(payload.get("processed_at")),
            )  # fmt: skip
        if topic == "refunds/create":
            order_ref = _id(payload.get("order_id"))
            if order_ref is None:
                raise Rejected(400, "The refunds/create body has no order_id.")
            occurred_at = when or _timestamp(payload.get("created_at"))
            return ShopEvent(
                event_id, EventKind.REFUNDED, order_ref=order_ref, occurred_at=occurred_at
            )
        if topic == "inventory_levels/update":
            variant_id = self._variant_of_item.get(_id(payload.get("inventory_item_id")) or "")
            available = payload.get("available")
            if variant_id is not None and type(available) is int:
                return ShopEvent(
                    event_id, EventKind.RESTOCKED, product_id=variant_id,
                    quantity=max(available, 0), occurred_at=when,
                )  # fmt: skip
        return ShopEvent(event_id, EventKind.IGNORED, occurred_at=when)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def _is_throttled(errors: Any) -> bool:
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _message(error: Any) -> str:
    """The first error's message, short and on one line (Shopify's own words, no credentials)."""
    if isinstance(error, list) and error:
        error = error[0]
    message = error.get("message") if isinstance(error, dict) else error
    return " ".join(str(message).split())[:200].rstrip(".") or "no reason given"


def _retry_after(value: str | None) -> float | None:
    try:
        return min(max(float(value or ""), 0.0), 60.0)
    except ValueError:
        return None


def _currency(data: dict[str, Any]) -> str | None:
    code = (data.get("shop") or {}).get("currencyCode")
    return code.lower() if isinstance(code, str) else None


def _minor_units(price: Any, currency: str | None) -> int | None:
    try:
        amount = Decimal(str(price))
    except InvalidOperation:
        return None
    return int(amount if currency in ZERO_DECIMAL_CURRENCIES else amount * 100)


def _id(value: Any) -> str | None:
    """An order/item id as text: Shopify sends numbers; a GID's last part also works."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip().rsplit("/", 1)[-1] or None
    return None


def _our_code(discount_codes: Any) -> str | None:
    """The first of the order's codes that dropbell issued (a buyer may add a shop-wide one)."""
    if not isinstance(discount_codes, list):
        return None
    for entry in discount_codes:
        code = entry.get("code") if isinstance(entry, dict) else None
        if isinstance(code, str) and code.strip().upper().startswith(CODE_PREFIX):
            return code.strip().upper()  # Shopify codes are case-insensitive; ours are upper
    return None


def _claim_attribute(note_attributes: Any) -> str | None:
    if not isinstance(note_attributes, list):
        return None
    for entry in note_attributes:
        if isinstance(entry, dict) and entry.get("name") == CLAIM_ATTRIBUTE:
            value = entry.get("value")
            return value.strip() or None if isinstance(value, str) else None
    return None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
