"""Keeping purchase links ready before fans need them.

A drop that sells a product gets one link per remaining unit plus a margin, issued from an hour
before opening (a Stripe Checkout Session lives at most 24 hours, so not earlier), topped up off
the fan's path whenever links are taken, and re-asked with the same idempotency key after a
crash. The shop adapter paces its own requests; a shop that keeps failing is not called for a
while (the circuit in ``shops.circuit``) and the next top-up tries again.

Links are issued ``concurrency`` at a time: one at a time, each waits out the shop's whole
latency, and 550 Checkout Sessions at 300 ms each would take almost 3 minutes where Stripe's
25 requests/s allows 22 s. The adapter, not the pool, keeps to the shop's limits (Stripe: a
token bucket per endpoint under 25/s; Shopify: its cost-based bucket and its own few slots),
so ``concurrency`` only bounds how many requests wait at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from services.localtime import utcnow
from shops.base import IssuedLink, Shop, ShopRefused, ShopUnavailable
from storage.drops import Drop
from storage.link_pool import LinkPoolStore, PendingLink

log = logging.getLogger("dropbell.pool")

LEAD = timedelta(hours=1)
# Links for units whose holds end within this are issued ahead (the keeper ticks at least
# every 30 s, so at least once in this window).
HOLDS_AHEAD = timedelta(seconds=60)
# Links that would expire during a hold starting a few minutes from now are not counted.
SAFETY = timedelta(minutes=5)
# Shop calls in flight per top-up: enough to keep Stripe's 25 requests/s busy even at a
# second per Checkout Session, few enough not to queue hundreds of calls behind the adapter's
# pacing (bench/link_pool.py measures this top-up at the same 32).
CONCURRENCY = 32


def split_product(product: str) -> tuple[str, str]:
    shop, _, product_id = product.partition(":")
    return shop, product_id


def margin(remaining: int) -> int:
    """Spare links beyond one per unit: a unit that comes back needs a fresh link."""
    return max(2, math.ceil(remaining * 0.1))


class LinkPool:
    def __init__(
        self,
        store: LinkPoolStore,
        shops: Mapping[str, Shop],
        hold: timedelta,
        concurrency: int = CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("The link pool needs a concurrency of at least 1.")
        self.store = store
        self.shops = shops
        self.hold = hold
        self.concurrency = concurrency
        self._locks: dict[int, asyncio.Lock] = {}

    def wanted(self, drop: Drop) -> bool:
        return (
            drop.product is not None
            and drop.is_open
            and drop.remaining > 0
            and drop.starts_at - utcnow() <= LEAD
        )

    async def top_up(self, drop: Drop) -> bool:
        """Issue what the pool lacks for this drop; False if it still lacks some (the shop
        failed), so the caller tries again soon."""
        if drop.product is None or not self.wanted(drop):
            return True
        shop_name, product_id = split_product(drop.product)
        shop = self.shops.get(shop_name)
        if shop is None:
            log.warning("drop %s sells from unknown shop %r", drop.id, shop_name)
            return True
        lock = self._locks.setdefault(drop.id, asyncio.Lock())
        async with lock:
            now = utcnow()
            retry = await self.store.issuing(drop.id)
            have = await self.store.usable(drop.id, now + self.hold + SAFETY)
            # Read after `have`, not taken from `drop`: claims that committed since the caller
            # read the drop must not be issued again (a claim in between only lowers it).
            remaining = await self.store.remaining(drop.id)
            # Holds ending soon give units back, and each needs a fresh link: issue them now,
            # so the fans behind are not told "no link yet" while the pool catches up.
            returning = await self.store.holds_ending(drop.id, now + HOLDS_AHEAD)
            coming = remaining + returning
            lacking = coming + margin(coming) - have if coming > 0 else 0
            fresh = await self.store.reserve(drop.id, shop_name, max(0, lacking), now)
            return await self._issue_all(shop, product_id, [*retry, *fresh])

    async def _issue_all(self, shop: Shop, product_id: str, pending: list[PendingLink]) -> bool:
        """Issue each pending row once, ``concurrency`` at a time; False if any failed.

        Workers take rows from one shared iterator, so no row is asked twice in this top-up;
        a row whose answer never came (a crash) stays ``issuing`` and the next top-up asks
        again under the same idempotency key. After a failure no new row is started (the shop
        is failing: hammering it only delays its recovery); calls in flight finish and keep
        their links, and the rest stay ``issuing`` for the next top-up.
        """
        rows = iter(pending)
        failed = False
        # Links back from the shop, not yet written: whoever holds ``writing`` writes all of
        # them in one transaction (a group commit), so 32 answers arriving together cost one
        # turn at SQLite's write lock, not 32 queued ahead of fans' claims.
        unwritten: list[tuple[int, str, str, datetime | None]] = []
        writing = asyncio.Lock()

        async def record(row: PendingLink, link: IssuedLink) -> None:
            unwritten.append((row.id, link.link_id, link.url, link.expires_at))
            async with writing:
                if unwritten:  # else an earlier writer took this one along
                    batch = unwritten[:]
                    unwritten.clear()
                    await self.store.ready_many(batch)

        async def worker() -> None:
            nonlocal failed
            for row in rows:
                if failed:
                    return
                link = await self._issue(shop, product_id, row)
                if link is None:
                    failed = True
                else:
                    await record(row, link)

        # A TaskGroup, not gather: an unexpected error (the database) cancels the other
        # workers instead of leaving them running after the drop's lock is released.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.concurrency, len(pending))):
                group.create_task(worker())
        return not failed

    async def _issue(self, shop: Shop, product_id: str, pending: PendingLink) -> IssuedLink | None:
        try:
            return await shop.issue_link(product_id, pending.claim_ref)
        except (ShopUnavailable, ShopRefused) as error:
            log.warning("could not issue a link for drop %s: %s", pending.drop_id, error)
            return None

    async def discard(self, drop: Drop) -> None:
        """The drop ended: its unused links are ended at the shop (best effort)."""
        for shop_name, link_ref in await self.store.discard_unused(drop.id):
            shop = self.shops.get(shop_name)
            if shop is None:
                continue
            try:
                await shop.expire_link(link_ref)
            except (ShopUnavailable, ShopRefused) as error:
                log.info("could not end unused link %s: %s", link_ref, error)
