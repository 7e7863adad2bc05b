"""Shopify through the Admin GraphQL API (httpx): variants, one discount code per link, webhooks.

Decisions the services and the README rely on:
- Product id: the variant's number ("44012345678"); a ``gid://shopify/ProductVariant/…`` works too.
- A link is a cart permalink with a code of its own (``link_id``) and the claim as an attribute.
  Code: ``DB-<claim_ref>-<10 base32 chars of HMAC(webhook secret, claim_ref)>``: one claim_ref,
  one code (a repeated or retried create, Shopify's TAKEN, is the same link); unguessable.
- ``discountCodeBasicCreate`` per code, not ``discountRedeemCodeBulkAdd``: a basic code has its own
  ``usageLimit: 1``, is deleted alone and confirmed synchronously; bulk codes share one limit and
  are created (and deleted) by asynchronous jobs to poll. Expiring deletes the code; issuing the
  claim_ref again re-creates the very same code and URL.
- ``inventory_levels/update`` (an inventory item, one location's ``available``) is RESTOCKED for
  items seen on a variant listed, fetched or linked since start (a drop's pool does), else IGNORED.
  ``refunds/create`` is REFUNDED by order id (it carries no code or attributes);
  ``orders/cancelled`` is IGNORED (a refunded cancel sends ``refunds/create`` too).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from .base import EventKind, IssuedLink, Product, ShopEvent, ShopRefused, ShopUnavailable
from .base import WebhookRejected as Rejected
from .shopify_cost import CostBucket

VARIANT_GID = "gid://shopify/ProductVariant/"
CLAIM_ATTRIBUTE = "dropbell_claim"
CODE_PREFIX = "DB-"
MAX_HELD_BACK = 60  # THROTTLED/429 answers waited out for one call before giving up
THROTTLED, RATE_LIMITED = "throttled", "rate limited"
_VARIANT_FIELDS = "id title price inventoryQuantity inventoryItem { id } product { title }"
LIST_VARIANTS = f"""query DropbellVariants($first: Int!, $query: String) {{ shop {{ currencyCode }}
  productVariants(first: $first, query: $query) {{ nodes {{ {_VARIANT_FIELDS} }} }} }}"""
GET_VARIANT = f"""query DropbellVariant($id: ID!) {{ shop {{ currencyCode }}
  productVariant(id: $id) {{ {_VARIANT_FIELDS} }} }}"""
CREATE_CODE = """mutation DropbellCreateCode($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id } userErrors { field code message } } }"""
FIND_CODE = (
    """query DropbellFindCode($code: String!) { codeDiscountNodeByCode(code: $code) { id } }"""
)
DELETE_CODE = """mutation DropbellDeleteCode($id: ID!) {
  discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } } }"""
ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "isk", "huf", "twd", "ugx"}


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
        auth = {"X-Shopify-Access-Token": admin_token}  # only ever sent, never logged
        self._client = httpx.AsyncClient(timeout=timeout_seconds, headers=auth)
        self._secret = webhook_secret.encode()
        # The link's value off the variant's price: 0 makes the code attribution only.
        self._discount_percentage = discount_percentage
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._link_slots = asyncio.Semaphore(link_concurrency)
        self._learning = asyncio.Lock()  # concurrent creates look a new variant up once
        self._bucket = CostBucket()
        self._requested_cost: dict[str, float] = {}  # per operation, from Shopify's last answer
        self._variant_of_item: dict[str, str] = {}  # inventory item id -> variant id
        self.throttled_answers = 0  # THROTTLED answers waited out (for tests and metrics)

    async def list_products(self, query: str = "") -> list[Product]:
        variables = {"first": 25, "query": query or None}
        data = await self._graphql("DropbellVariants", LIST_VARIANTS, variables)
        products = self._products(data, (data.get("productVariants") or {}).get("nodes"))
        # Shopify's search matches words (and SKUs...); the interface promises "name contains".
        return [p for p in products if query.lower() in p.name.lower()][:25]

    async def get_product(self, product_id: str) -> Product:
        variables = {"id": VARIANT_GID + self._variant_number(product_id)}
        data = await self._graphql("DropbellVariant", GET_VARIANT, variables)
        for product in self._products(data, [data.get("productVariant")]):
            return product
        raise ShopRefused(f"Shopify shop {self.name!r} has no variant {product_id!r}.")

    def _products(self, data: dict[str, Any], nodes: Any) -> list[Product]:
        currency = str((data.get("shop") or {}).get("currencyCode") or "").lower() or None
        products = []
        for node in [n for n in nodes or [] if isinstance(n, dict) and n.get("id")]:
            variant_id = str(node["id"]).removeprefix(VARIANT_GID)
            item = str((node.get("inventoryItem") or {}).get("id") or "").rsplit("/", 1)[-1]
            if item:  # remembered so an inventory_levels/update can name its variant
                self._variant_of_item[item] = variant_id
            title, variant = (node.get("product") or {}).get("title"), node.get("title")
            name = title if variant in (None, "", "Default Title") else f"{title} - {variant}"
            price_cents = _minor_units(node.get("price"), currency)
            stock = count if isinstance(count := node.get("inventoryQuantity"), int) else None
            products.append(Product(variant_id, name or variant_id, price_cents, currency, stock))
        return products

    def _variant_number(self, product_id: str) -> str:
        number = product_id.strip().removeprefix(VARIANT_GID)
        if not number.isdigit():
            raise ShopRefused(f"{product_id!r} is not a Shopify variant id (a number).")
        return number

    def code_for(self, claim_ref: str) -> str:
        """The discount code of a claim: readable, deterministic, unguessable without the secret."""
        mac = hmac.new(self._secret, b"dropbell-code\0" + claim_ref.encode(), hashlib.sha256)
        slug = re.sub(r"[^A-Z0-9]+", "-", claim_ref.upper()).strip("-")[:40]
        return f"{CODE_PREFIX}{slug}-{base64.b32encode(mac.digest()).decode()[:10]}"

    async def issue_link(self, product_id: str, claim_ref: str) -> IssuedLink:
        variant_id = self._variant_number(product_id)
        async with self._learning:
            if variant_id not in self._variant_of_item.values():
                # Once per variant and process: a clear "no such variant", and its inventory
                # item learnt, so restocks of a drop's product are understood after a restart.
                await self.get_product(variant_id)
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
        query = {"discount": code, f"attributes[{CLAIM_ATTRIBUTE}]": claim_ref}
        url = f"https://{self.shop_domain}/cart/{variant_id}:1?"
        return IssuedLink(code, url + urllib.parse.urlencode(query, safe="[]"), expires_at=None)

    async def issue_links(self, product_id: str, claim_refs: Sequence[str]) -> list[IssuedLink]:
        """Links for the pool, in order; on a failure the rest finish and the first is raised
        (calling again is safe: created ones come back as they are)."""
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

    async def _graphql(self, operation: str, query: str, variables: Any) -> dict[str, Any]:
        payload = {"query": query, "variables": variables, "operationName": operation}
        failures = held_back = 0
        while True:
            await self._bucket.reserve(self._requested_cost.get(operation))
            outcome = await self._post(operation, payload)
            if isinstance(outcome, dict):
                return outcome
            problem, wait = outcome
            if problem in (THROTTLED, RATE_LIMITED):
                # Not failures: Shopify said when to come back. Patient, but not forever.
                held_back += 1
                self.throttled_answers += problem == THROTTLED
                if held_back > MAX_HELD_BACK:
                    raise ShopUnavailable(
                        f"Shopify shop {self.name!r} kept rate-limiting; try later."
                    )
                # After a THROTTLED with cost data, reserve() waits until the cost is back;
                # when nothing said how long, a short pause.
                blind = problem == RATE_LIMITED or self._bucket.maximum is None
                await asyncio.sleep(wait if wait is not None else self._backoff if blind else 0)
                continue
            failures += 1
            if failures >= self._max_attempts:
                raise ShopUnavailable(
                    f"Shopify shop {self.name!r} {problem} after {failures} attempts; "
                    "check the shop's status and try again shortly."
                )
            await asyncio.sleep(self._backoff * 2 ** (failures - 1))

    async def _post(
        self, operation: str, payload: dict[str, Any]
    ) -> dict[str, Any] | tuple[str, float | None]:
        """Shopify's ``data``, or why to try again (and after how long, if Shopify said)."""
        try:
            response = await self._client.post(self._endpoint, json=payload)
        except httpx.TimeoutException:
            return "did not answer in time", None
        except httpx.TransportError:
            return "could not be reached", None
        status = response.status_code
        if status >= 500:
            return f"kept failing (HTTP {status})", None
        if status in (401, 403):
            raise ShopRefused(
                f"Shopify shop {self.name!r} refused the admin token (HTTP {status}); "
                "check admin_token and the app's access scopes."
            )
        if status >= 400 and status != 429:
            raise ShopRefused(
                f"Shopify shop {self.name!r} answered HTTP {status}; "
                "check shop_domain, api_base and api_version."
            )
        body = _json_object(response.content) or {}
        cost = (body.get("extensions") or {}).get("cost") or {}
        self._bucket.observe(cost.get("throttleStatus"))
        if isinstance(cost.get("requestedQueryCost"), int | float):
            self._requested_cost[operation] = float(cost["requestedQueryCost"])
        errors = body.get("errors")
        if _is_throttled(errors):  # whether it came as a 200 or a 429
            return THROTTLED, None
        if status == 429:
            return RATE_LIMITED, _retry_after(response.headers.get("Retry-After"))
        if not body:
            return "answered with something other than GraphQL JSON", None
        if errors:
            raise ShopRefused(
                f"Shopify shop {self.name!r} rejected {operation}: {_message(errors)}."
            )
        return body.get("data") or {}

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
        if topic in ("orders/paid", "refunds/create"):
            paid = topic == "orders/paid"
            order_ref = _id(payload.get("id" if paid else "order_id"))
            if order_ref is None:
                raise Rejected(400, f"The {topic} body has no order id.")
            when = when or _timestamp(payload.get("processed_at" if paid else "created_at"))
            if not paid:
                return ShopEvent(
                    event_id, EventKind.REFUNDED, order_ref=order_ref, occurred_at=when
                )
            # A buyer may add a shop-wide code too; codes are case-insensitive, ours upper case.
            code = _first_text(payload.get("discount_codes"), "code", _is_ours)
            claim = _first_text(payload.get("note_attributes"), "value", _is_claim)
            link_id = code.upper() if code else None
            return ShopEvent(event_id, EventKind.PAID, link_id, claim, order_ref, occurred_at=when)
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
    with contextlib.suppress(ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        value = json.loads(raw)
        return value if isinstance(value, dict) else None
    return None


def _is_throttled(errors: Any) -> bool:
    entries = errors if isinstance(errors, list) else []
    return "THROTTLED" in [
        (e.get("extensions") or {}).get("code") for e in entries if isinstance(e, dict)
    ]


def _message(error: Any) -> str:
    """The first error's message, short and on one line (Shopify's own words, no credentials)."""
    if isinstance(error, list) and error:
        error = error[0]
    message = error.get("message") if isinstance(error, dict) else error
    return " ".join(str(message).split())[:200].rstrip(".") or "no reason given"


def _retry_after(value: str | None) -> float | None:
    with contextlib.suppress(ValueError):
        return min(max(float(value or ""), 0.0), 60.0)
    return None


def _minor_units(price: Any, currency: str | None) -> int | None:
    with contextlib.suppress(InvalidOperation):
        amount = Decimal(str(price))
        return int(amount if currency in ZERO_DECIMAL_CURRENCIES else amount * 100)
    return None


def _id(value: Any) -> str | None:
    """An order/item id as text: Shopify sends numbers; a GID's last part also works."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return (value.strip().rsplit("/", 1)[-1] or None) if isinstance(value, str) else None


def _is_ours(entry: dict[str, Any]) -> bool:
    return str(entry.get("code")).strip().upper().startswith(CODE_PREFIX)


def _is_claim(entry: dict[str, Any]) -> bool:
    return entry.get("name") == CLAIM_ATTRIBUTE


def _first_text(entries: Any, key: str, wanted: Callable[[dict[str, Any]], bool]) -> str | None:
    """The first non-blank ``key`` among the objects of a list that are ``wanted`` (untrusted)."""
    for entry in entries if isinstance(entries, list) else []:
        value = entry.get(key) if isinstance(entry, dict) and wanted(entry) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _timestamp(value: Any) -> datetime | None:
    with contextlib.suppress(ValueError, TypeError):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
