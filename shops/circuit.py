"""A circuit around a shop: after repeated failures, stop calling it for a while.

A shop that keeps timing out would otherwise make every fan's click and every pool refill wait
for its timeout. After ``failures`` consecutive ``ShopUnavailable`` the circuit opens: calls
fail at once for ``cool_off`` seconds, saying when the shop will be tried again. Then one trial
call goes through; success closes the circuit, failure keeps it open for another cool-off.
``on_open(shop_name, reason)`` is called once per outage (a failed trial does not call it
again), so managers are told once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from shops.base import IssuedLink, Product, Shop, ShopEvent, ShopRefused, ShopUnavailable

T = TypeVar("T")
OnOpen = Callable[[str, str], None]


class CircuitBreaker:
    """Implements ``Shop`` around another ``Shop``; ``parse_webhook`` is local, never guarded."""

    def __init__(
        self,
        shop: Shop,
        *,
        failures: int = 5,
        cool_off: float = 30.0,
        on_open: OnOpen | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or cool_off <= 0:
            raise ValueError("A circuit needs failures >= 1 and a cool-off above 0 seconds.")
        self.shop = shop
        self.name = shop.name
        self.kind = shop.kind
        self._threshold = failures
        self._cool_off = cool_off
        self._on_open = on_open
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._last_failure = ""

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    async def list_products(self, query: str = "") -> list[Product]:
        return await self._guarded(lambda: self.shop.list_products(query))

    async def get_product(self, product_id: str) -> Product:
        return await self._guarded(lambda: self.shop.get_product(product_id))

    async def issue_link(self, product_id: str, claim_ref: str) -> IssuedLink:
        return await self._guarded(lambda: self.shop.issue_link(product_id, claim_ref))

    async def expire_link(self, link_id: str) -> None:
        await self._guarded(lambda: self.shop.expire_link(link_id))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ShopEvent:
        return self.shop.parse_webhook(body, headers)

    async def aclose(self) -> None:
        await self.shop.aclose()

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        if self._open_until is not None and now < self._open_until:
            raise ShopUnavailable(self._open_sentence(self._open_until - now))
        # Closed, or the cool-off is over: this call is the trial.
        try:
            result = await call()
        except ShopUnavailable as error:
            self._failed(str(error))
            raise
        except ShopRefused:  # a refusal proves the shop answers, so it closes the circuit too
            self._succeeded()
            raise
        self._succeeded()
        return result

    def _failed(self, reason: str) -> None:
        self._failures += 1
        self._last_failure = reason
        was_open = self._open_until is not None
        if was_open or self._failures >= self._threshold:
            self._open_until = self._clock() + self._cool_off
            if not was_open and self._on_open is not None:
                self._on_open(self.name, self._open_sentence(self._cool_off))

    def _succeeded(self) -> None:
        self._failures = 0
        self._open_until = None

    def _open_sentence(self, seconds_left: float) -> str:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_left)
        return (
            f"Shop {self.name!r} failed {self._failures} times in a row, so dropbell will not "
            f"call it again until {at:%H:%M:%S} UTC (in {max(1, round(seconds_left))} s); "
            f"last failure: {self._last_failure}"
        )
