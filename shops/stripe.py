"""Stripe through the official SDK: a Checkout Session per purchase link.

Async calls over httpx, ``base_addresses`` for ``api_base`` (the sandbox shop), an idempotency
key derived from ``claim_ref`` on every create, the SDK's own retries for network errors and
5xx, client-side pacing per endpoint, and ``Retry-After`` honoured on 429 (the SDK does not
retry those).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import stripe

from shops.base import (
    EventKind,
    IssuedLink,
    Product,
    ShopEvent,
    ShopRefused,
    ShopUnavailable,
    WebhookRejected,
)
from shops.pacing import TokenBucket

T = TypeVar("T")

WEBHOOK_TOLERANCE = 300  # seconds: Stripe's own 5 minutes against replays
MAX_PRODUCTS = 25  # what a Discord autocomplete shows
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After means the shop is not coming back soon


class StripeShop:
    """A Stripe account (or anything that speaks its API, such as the sandbox shop)."""

    kind = "stripe"
    # Price metadata key holding stock; real Stripe tracks none (the sandbox adapter sets it).
    stock_key: str | None = None

    def __init__(
        self,
        name: str,
        *,
        secret_key: str,
        webhook_secret: str,
        success_url: str,
        cancel_url: str,
        api_base: str | None = None,
        timeout: float = 10.0,
        max_network_retries: int = 2,
        requests_per_second: float = 25.0,
        burst: float = 1.0,
        rate_limit_retries: int = 5,
    ) -> None:
        if not secret_key:
            raise ValueError(f"Shop {name!r} needs a Stripe secret key (secret_key).")
        if not webhook_secret:
            raise ValueError(f"Shop {name!r} needs its webhook signing secret (webhook_secret).")
        self.name = name
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._success_url = success_url
        self._cancel_url = cancel_url
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            secret_key,
            http_client=self._http,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
        )
        self._rate = requests_per_second
        self._burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._rate_limit_retries = rate_limit_retries
        self.throttled = 0  # 429 answers seen (each waited out, then retried)

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self.name!r}>"

    # --- Shop ------------------------------------------------------------------------------

    async def list_products(self, query: str = "") -> list[Product]:
        prices = await self._call(
            "GET /v1/prices",
            "listing prices",
            lambda: self._client.v1.prices.list_async(
                {"active": True, "limit": 100, "expand": ["data.product"]}
            ),
        )
        wanted = query.casefold()
        products = [self._product(p.to_dict()) for p in prices.data]
        return [p for p in products if wanted in p.name.casefold()][:MAX_PRODUCTS]

    async def get_product(self, product_id: str) -> Product:
        price = await self._call(
            "GET /v1/prices/{id}",
            f"reading price {product_id}",
            lambda: self._client.v1.prices.retrieve_async(product_id, {"expand": ["product"]}),
        )
        return self._product(price.to_dict())

    async def issue_link(self, product_id: str, claim_ref: str) -> IssuedLink:
        metadata = {"claim_ref": claim_ref}
        session = await self._call(
            "POST /v1/checkout/sessions",
            "creating a Checkout Session",
            lambda: self._client.v1.checkout.sessions.create_async(
                {
                    "mode": "payment",
                    "line_items": [{"price": product_id, "quantity": 1}],
                    "client_reference_id": claim_ref,
                    "metadata": metadata,
                    # Refunds arrive as charges, which carry the payment intent's metadata.
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": self._success_url,
                    "cancel_url": self._cancel_url,
                    # No expires_at: Stripe's default is its 24-hour maximum, and a time in the
                    # parameters would make a retry a second later "different parameters" under
                    # the same idempotency key, which Stripe refuses.
                },
                # The same claim gets the same session, however often it is retried.
                {"idempotency_key": f"dropbell-link-{claim_ref}"},
            ),
        )
        if not session.url:
            raise ShopRefused(f"Stripe shop {self.name!r} created a session without a URL.")
        return IssuedLink(
            link_id=session.id,
            url=session.url,
            expires_at=dt.datetime.fromtimestamp(session.expires_at, dt.UTC),
        )

    async def expire_link(self, link_id: str) -> None:
        try:
            await self._call(
                "POST /v1/checkout/sessions/{id}/expire",
                f"expiring Checkout Session {link_id}",
                lambda: self._client.v1.checkout.sessions.expire_async(link_id),
            )
        except ShopRefused:
            # Stripe answers 400 for a session that is no longer open: ended is what we wanted.
            session = await self._call(
                "GET /v1/checkout/sessions/{id}",
                f"reading Checkout Session {link_id}",
                lambda: self._client.v1.checkout.sessions.retrieve_async(link_id),
            )
            if session.status not in ("expired", "complete"):
                raise

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ShopEvent:
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        if not signature:
            raise WebhookRejected(401, "The delivery has no Stripe-Signature header.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # Stripe signs (and the SDK checks) text; bytes that are not UTF-8 are no event.
            raise WebhookRejected(400, "The body is not a Stripe event in JSON.") from None
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("object") != "event":
            # The signature is checked first, so a forger learns nothing from the answer.
            self._verify(text, signature, only=True)
            raise WebhookRejected(400, "The body is not a Stripe event in JSON.")
        self._verify(text, signature)
        return self._event(event)

    async def aclose(self) -> None:
        await self._http.close_async()

    # --- helpers ---------------------------------------------------------------------------

    def _verify(self, text: str, signature: str, *, only: bool = False) -> None:
        try:
            if only:
                stripe.WebhookSignature.verify_header(
                    text, signature, self._webhook_secret, WEBHOOK_TOLERANCE
                )
            else:
                stripe.Webhook.construct_event(
                    text, signature, self._webhook_secret, WEBHOOK_TOLERANCE
                )
        except stripe.SignatureVerificationError:
            raise WebhookRejected(
                401, "The Stripe-Signature is wrong or older than 5 minutes."
            ) from None
        except ValueError:
            raise WebhookRejected(400, "The body is not a Stripe event in JSON.") from None

    def _event(self, event: dict[str, Any]) -> ShopEvent:
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        event_id, event_type = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise WebhookRejected(400, "The Stripe event has no id or type.")
        if not isinstance(obj, dict):
            raise WebhookRejected(400, "The Stripe event has no data.object.")
        created = event.get("created")
        occurred = (
            dt.datetime.fromtimestamp(created, dt.UTC)
            if isinstance(created, int) and 0 <= created < 2**33
            else None
        )
        base = ShopEvent(event_id, EventKind.IGNORED, occurred_at=occurred)
        metadata = _mapping(obj.get("metadata"))
        claim_ref = _text(obj.get("client_reference_id")) or _text(metadata.get("claim_ref"))
        paid = event_type == "checkout.session.async_payment_succeeded" or (
            event_type == "checkout.session.completed" and obj.get("payment_status") == "paid"
        )
        if paid or event_type == "checkout.session.expired":
            return _replace(
                base,
                kind=EventKind.PAID if paid else EventKind.EXPIRED,
                link_id=_text(obj.get("id")),
                claim_ref=claim_ref,
                # The payment intent is what a refund names; a session without one keeps its id.
                order_ref=(_text(obj.get("payment_intent")) or _text(obj.get("id")))
                if paid
                else None,
            )
        if event_type == "charge.refunded":
            return _replace(
                base,
                kind=EventKind.REFUNDED,
                claim_ref=claim_ref,
                order_ref=_text(obj.get("payment_intent")) or _text(obj.get("id")),
            )
        stock = metadata.get(self.stock_key) if self.stock_key else None
        if event_type == "price.updated" and isinstance(stock, str) and stock.isdigit():
            return _replace(
                base,
                kind=EventKind.RESTOCKED,
                product_id=_text(obj.get("id")),
                quantity=int(stock),
            )
        return base

    def _product(self, price: dict[str, Any]) -> Product:
        product = price.get("product")
        name = product.get("name") if isinstance(product, dict) else None
        metadata = price.get("metadata") or {}
        stock = metadata.get(self.stock_key) if self.stock_key else None
        return Product(
            id=str(price["id"]),
            name=str(name or price.get("nickname") or price["id"]),
            price_cents=price.get("unit_amount"),
            currency=price.get("currency"),
            stock=int(stock) if isinstance(stock, str) and stock.isdigit() else None,
        )

    def _bucket(self, endpoint: str) -> TokenBucket:
        if endpoint not in self._buckets:
            self._buckets[endpoint] = TokenBucket(self._rate, self._burst)
        return self._buckets[endpoint]

    async def _call(self, endpoint: str, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """One paced API call; Stripe's errors become ShopUnavailable or ShopRefused."""
        bucket = self._bucket(endpoint)
        for attempt in range(self._rate_limit_retries + 1):
            await bucket.take()
            try:
                return await call()
            except stripe.RateLimitError as error:
                self.throttled += 1
                wait = _retry_after(error)
                if attempt == self._rate_limit_retries or wait > MAX_RETRY_AFTER:
                    raise ShopUnavailable(
                        f"Stripe shop {self.name!r} is rate limiting us ({what}); "
                        f"try again in {wait:.0f} s."
                    ) from None
                bucket.pause(wait)
            except stripe.APIConnectionError:
                raise ShopUnavailable(
                    f"Stripe shop {self.name!r} could not be reached or did not answer in "
                    f"time ({what})."
                ) from None
            except (stripe.AuthenticationError, stripe.PermissionError):
                raise ShopRefused(
                    f"Stripe shop {self.name!r} refused our secret key ({what}): check secret_key."
                ) from None
            except stripe.StripeError as error:
                status = error.http_status or 500
                if status >= 500:
                    raise ShopUnavailable(
                        f"Stripe shop {self.name!r} failed ({what}: HTTP {status})."
                    ) from None
                message = self._redact(error.user_message or str(error))
                raise ShopRefused(f"Stripe shop {self.name!r} refused {what}: {message}") from None
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _redact(self, message: str) -> str:
        message = message.strip().replace(self._secret_key, "sk_…")
        return message.replace(self._webhook_secret, "whsec_…").rstrip(".") + "."


def _retry_after(error: stripe.StripeError) -> float:
    value = (error.headers or {}).get("retry-after") or (error.headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _replace(event: ShopEvent, **changes: Any) -> ShopEvent:
    return dataclasses.replace(event, **changes)
