"""Drop day's background work, off every fan's path, driven by the database.

One loop wakes at the next moment something is due (a hold ending, a raffle round) or when
poked, and at least every ``POLL`` seconds:
- holds past ``hold_until`` end and give their unit back (``storage.holds``), then their shop
  links are ended; a restart finds overdue holds in the table and ends them at once;
- each raffle round passes the units still free to the next ranks in draw order;
- the link pool of each selling drop is topped up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from services.dropday.pool import LinkPool
from services.localtime import utcnow
from shops.base import Shop, ShopRefused, ShopUnavailable
from storage.drops import DropStore
from storage.holds import HoldStore
from storage.raffle import RaffleStore

log = logging.getLogger("dropbell.dropday")

POLL = 30.0
# A pool the shop could not fill is tried again this soon (the shop's circuit, if open,
# answers at once without calling it).
POOL_RETRY = timedelta(seconds=3)


def raffle_round(drawn_at: datetime, hold: timedelta, now: datetime) -> int:
    """How many whole holds have passed since the draw."""
    return int((now - drawn_at) / hold) if now > drawn_at else 0


class Keeper:
    def __init__(
        self,
        *,
        drops: DropStore,
        holds: HoldStore,
        raffles: RaffleStore,
        pool: LinkPool,
        shops: Mapping[str, Shop],
        hold: timedelta,
        stock_changed: Callable[[int], None],
    ) -> None:
        self.drops = drops
        self.holds = holds
        self.raffles = raffles
        self.pool = pool
        self.shops = shops
        self.hold = hold
        self.stock_changed = stock_changed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="dropbell-dropday")

    async def stop(self) -> None:
        if self._task is not None:
            # Python 3.11's wait_for swallows a cancel that lands as the wake-up is set (a
            # claim poking at shutdown); the flag ends the loop then, instead of a hung close.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Something changed (a claim, an opening): look again now rather than at the timer."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                next_due = await self.tick()
            except Exception:
                log.exception("drop day upkeep failed; trying again shortly")
                next_due = None
            delay = POLL
            if next_due is not None:
                delay = min(POLL, max(0.0, (next_due - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def tick(self) -> datetime | None:
        """One round of upkeep; when the next thing is due (None: nothing scheduled)."""
        now = utcnow()
        for drop_id in await self.holds.expire_due(now):
            self.stock_changed(drop_id)
        await self._end_links()
        short = False
        for drop in await self.drops.selling():
            short = not await self.pool.top_up(drop) or short
        # After the top-up: units pass to the next raffle ranks once there are links for them
        # (else those fans would be told the shop is slow while the pool refills).
        next_round = await self._raffle_rounds(now)
        retry = utcnow() + POOL_RETRY if short else None
        due = [moment for moment in (await self.holds.next_due(), next_round, retry) if moment]
        return min(due) if due else None

    async def _end_links(self) -> None:
        for link in await self.holds.links_to_end():
            shop = self.shops.get(link.shop)
            if shop is not None:
                try:
                    await shop.expire_link(link.link_ref)
                except (ShopUnavailable, ShopRefused) as error:
                    log.info("could not end link %s yet: %s", link.link_ref, error)
                    return  # the next tick tries again
            await self.holds.link_ended(link.claim_id)

    async def _raffle_rounds(self, now: datetime) -> datetime | None:
        next_round: datetime | None = None
        for drop in await self.raffles.drawn_live():
            assert drop.drawn_at is not None
            due = raffle_round(drop.drawn_at, self.hold, now)
            if due > drop.claim_round and await self.raffles.widen(drop.id, due) is not None:
                self.stock_changed(drop.id)
            upcoming = drop.drawn_at + (due + 1) * self.hold
            next_round = upcoming if next_round is None else min(next_round, upcoming)
        return next_round
