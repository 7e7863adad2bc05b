"""The sandbox shop's state: what it sells, the links it issued, the orders, and its faults.

Shared by the Stripe-shaped and the Shopify-shaped APIs the sandbox shop serves, so a test can
sell the same stock through either and switch faults on for both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class CatalogProduct:
    id: str  # "price_…" on the Stripe side; a numeric variant id on the Shopify side
    name: str
    price_cents: int
    currency: str = "eur"
    stock: int = 0


@dataclass
class Faults:
    """Switches a test flips to make the shop misbehave (every API of the sandbox shop obeys)."""

    fail_next: int = 0  # the next N API requests answer 500
    rate_limit_per_second: float | None = None  # per endpoint; over it: 429 with Retry-After
    slow_seconds: float = 0.0  # every API answer waits this long first
    down: bool = False  # every API request answers 503 until switched off


@dataclass
class Catalog:
    products: dict[str, CatalogProduct] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    # Every request the APIs served or refused, as (method, path, status): what tests assert on.
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    def add_product(
        self, product_id: str, name: str, price_cents: int, stock: int, currency: str = "eur"
    ) -> CatalogProduct:
        product = CatalogProduct(product_id, name, price_cents, currency, stock)
        self.products[product_id] = product
        return product

    def count(self, method: str, path_prefix: str, status: int | None = None) -> int:
        return sum(
            1
            for m, p, s in self.requests
            if m == method and p.startswith(path_prefix) and (status is None or s == status)
        )
