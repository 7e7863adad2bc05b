"""What dropbell asks of a shop: one small interface, whatever the shop.

A shop lists what it sells (for the ``product`` autocomplete), issues a personal purchase link
whose order comes back attributed to it, ends a link early, and verifies and reads its webhooks.
Adapters know nothing of Discord, of cogs or of dropbell's tables: ``services`` drives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Product:
    """One thing a drop can sell: a Stripe Price, or a Shopify variant."""

    id: str  # the shop's own id: "price_…" for Stripe, a variant id for Shopify
    name: str
    price_cents: int | None
    currency: str | None
    stock: int | None  # None when the shop does not track it (Stripe)


@dataclass(frozen=True)
class IssuedLink:
    """A personal purchase link, not yet handed to anyone.

    ``link_id`` is what the shop's order events carry back (a Checkout Session id, a discount
    code): it is how an order finds its claim, whoever opened the link.
    """

    link_id: str
    url: str
    expires_at: datetime | None  # when the shop itself ends it (Stripe: 30 min to 24 h)


class EventKind(StrEnum):
    PAID = "paid"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    RESTOCKED = "restocked"
    IGNORED = "ignored"  # a well-formed, correctly signed event dropbell has no use for


@dataclass(frozen=True)
class ShopEvent:
    """One verified webhook delivery, in dropbell's words."""

    event_id: str  # the shop's delivery/event id: a repeat of it changes nothing
    kind: EventKind
    link_id: str | None = None  # the IssuedLink.link_id the order came through
    claim_ref: str | None = None  # the attribute/metadata dropbell put on the link (fallback)
    order_ref: str | None = None  # the shop's order id (Stripe: payment intent or session)
    product_id: str | None = None  # for restocks: which product
    quantity: int | None = None  # for restocks: the new available quantity
    occurred_at: datetime | None = None


class WebhookRejected(Exception):
    """A delivery dropbell refuses; ``status`` is the HTTP answer product.md names (400/401)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ShopUnavailable(Exception):
    """The shop did not answer usefully (timeouts, 5xx, 429 after retries, circuit open).

    ``str()`` is one sentence a manager can act on; it never contains a credential.
    """


class ShopRefused(Exception):
    """The shop answered and said no (unknown product, bad key): retrying will not help."""


class Shop(Protocol):
    """A connected shop, named in config (``[shops.NAME]``)."""

    name: str
    kind: str

    async def list_products(self, query: str = "") -> list[Product]:
        """Products/variants whose name contains ``query`` (case-insensitive), at most 25."""
        ...

    async def get_product(self, product_id: str) -> Product:
        """One product by id; ShopRefused if the shop has no such product."""
        ...

    async def issue_link(self, product_id: str, claim_ref: str) -> IssuedLink:
        """A new single-unit purchase link for ``product_id``.

        ``claim_ref`` (e.g. ``"dropbell-12-37"``) travels on the link as metadata/attribute and
        is the idempotency key of the create: issuing the same ``claim_ref`` twice gives one link.
        """
        ...

    async def expire_link(self, link_id: str) -> None:
        """End the link now (a hold ended unpaid). Ending an already-ended link is not an error."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ShopEvent:
        """Verify the signature and read the event; WebhookRejected(401 or 400) if not."""
        ...

    async def aclose(self) -> None: ...
