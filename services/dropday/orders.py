"""Shop webhooks, in dropbell's terms: verify, apply once, tell whoever needs to know.

The answer is the HTTP status product.md names: 200 for an accepted, repeated or ignored
event, 401 for a bad signature, 400 for a body that is not the shop's JSON, 404 for a shop
dropbell does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services import metrics
from services.events import DropEvents
from services.localtime import utcnow
from shops.base import EventKind, Shop, ShopEvent, WebhookRejected
from storage.orders import Applied, OrderFacts, OrderStore, Outcome

log = logging.getLogger("dropbell.orders")


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


class OrderListener(Protocol):
    """What the bot does with an applied order (update the fan's message, tell managers)."""

    async def order_applied(self, applied: Applied) -> None: ...


class Orders:
    def __init__(
        self,
        store: OrderStore,
        shops: Mapping[str, Shop],
        stock_changed: Callable[[int], None],
        events: DropEvents,
    ) -> None:
        self.events = events
        self.store = store
        self.shops = shops
        self.stock_changed = stock_changed
        self.listeners: list[OrderListener] = []
        self.late_payment: Callable[[Applied], Awaitable[None]] | None = None

    async def receive(self, shop_name: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        shop = self.shops.get(shop_name)
        if shop is None:
            return Answer(404, f"no shop called {shop_name!r} is connected")
        try:
            event = shop.parse_webhook(body, headers)
        except WebhookRejected as rejected:
            metrics.WEBHOOKS.labels(shop=shop_name, outcome=f"rejected-{rejected.status}").inc()
            return Answer(rejected.status, rejected.reason)
        outcome = await self.apply(shop_name, event)
        metrics.WEBHOOKS.labels(shop=shop_name, outcome=outcome).inc()
        return Answer(200, outcome)

    async def apply(self, shop_name: str, event: ShopEvent) -> Outcome:
        now = utcnow()
        facts = OrderFacts(
            shop=shop_name,
            event_id=event.event_id,
            kind=str(event.kind),
            link_ref=event.link_id,
            claim_ref=event.claim_ref,
            order_ref=event.order_ref,
        )
        if event.kind == EventKind.RESTOCKED:
            return await self._restock(shop_name, event, facts)
        applied = await self.store.apply(facts, now)
        if applied.outcome == Outcome.UNMATCHED:
            log.warning("%s order %s matches no claim", shop_name, event.order_ref)
        if applied.drop_id is not None and applied.outcome in (
            Outcome.EXPIRED,
            Outcome.LATE_PAID,
        ):
            self.stock_changed(applied.drop_id)
        if applied.outcome == Outcome.LATE_UNPAID and self.late_payment is not None:
            await self.late_payment(applied)
        if applied.claim_id is not None:
            for listener in self.listeners:
                await listener.order_applied(applied)
        return applied.outcome

    async def _restock(self, shop_name: str, event: ShopEvent, facts: OrderFacts) -> Outcome:
        if event.product_id is None or event.quantity is None:
            return Outcome.IGNORED
        if not await self.store.record_only(facts, Outcome.RESTOCKED, utcnow()):
            return Outcome.REPEAT
        product = f"{shop_name}:{event.product_id}"
        for drop in await self.store.restock(product, event.quantity, utcnow()):
            self.stock_changed(drop.id)
            if drop.status == "live":
                await self.events.restocked(drop.id)
        return Outcome.RESTOCKED
