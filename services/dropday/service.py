"""Drop day as one service: what the cogs, the web listener and the bot see of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from services.dropday.claims import ClaimService, IsCollector
from services.dropday.keeper import Keeper
from services.dropday.orders import Orders
from services.dropday.pool import LinkPool
from services.dropday.products import Products
from services.events import DropEvents
from shops.base import Shop
from storage.claims import Claim
from storage.drops import DropStore
from storage.engine import Database
from storage.holds import ClaimCounts, HoldStore
from storage.link_pool import LinkPoolStore
from storage.orders import Applied, OrderStore
from storage.raffle import RaffleStore

Notify = Callable[[int, str], Awaitable[object]]


class DropDay:
    def __init__(
        self,
        database: Database,
        events: DropEvents,
        shops: Mapping[str, Shop],
        hold: timedelta,
        is_collector: IsCollector,
        notify: Notify,
    ) -> None:
        # Tells a server's managers from whichever process saw it (a follower's circuit opens
        # too, a follower takes webhooks too): not only the leading one, which runs the keeper.
        self._notify = notify
        self.events = events
        self.shops = shops
        self.hold = hold
        self.holds = HoldStore(database)
        self.raffles = RaffleStore(database)
        self.drops = DropStore(database)
        self.pool = LinkPool(LinkPoolStore(database), shops, hold)
        self.keeper = Keeper(
            drops=self.drops,
            holds=self.holds,
            raffles=self.raffles,
            pool=self.pool,
            shops=shops,
            hold=hold,
            stock_changed=self.stock_changed,
        )
        self.claims = ClaimService(database, hold, self.stock_changed, is_collector)
        self.orders = Orders(OrderStore(database), shops, self.stock_changed, events)
        self.orders.late_payment = self._late_payment
        self.products = Products(shops)
        self._tasks: set[asyncio.Task[None]] = set()
        events.on_drop_changed(self._drop_changed)

    async def prepare_opening(self, drop_id: int) -> None:
        """Before the opening post: the pool holds a link per unit (a drop opened early)."""
        drop = await self.drops.get_any(drop_id)
        if drop is not None:
            await self.pool.top_up(drop)

    def stock_changed(self, drop_id: int) -> None:
        # The announcement and the opening post show the real remaining stock.
        self.events.waitlist_changed(drop_id)
        self.keeper.poke()

    async def _drop_changed(self, drop_id: int) -> None:
        self.keeper.poke()
        drop = await self.drops.get_any(drop_id)
        if drop is not None and not drop.is_open and drop.product:
            # Cancelled or closed: links never handed out are ended at the shop.
            await self.pool.discard(drop)

    def start(self) -> None:
        """The keeper: only in the leading process."""
        self.keeper.start()

    async def stop(self) -> None:
        await self.keeper.stop()
        await self.claims.idle()

    def shop_down(self, shop_name: str, reason: str) -> None:
        """A shop's circuit opened: tell the managers of every server selling from it, once."""
        task = asyncio.create_task(self._tell_shop_down(shop_name, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell_shop_down(self, shop_name: str, reason: str) -> None:
        guilds = {
            drop.guild_id
            for drop in await self.drops.selling()
            if (drop.product or "").startswith(f"{shop_name}:")
        }
        for guild_id in guilds:
            await self._notify(
                guild_id,
                f"The shop **{shop_name}** is not answering ({reason}). Fans are told to try "
                "again; links that are ready still go out.",
            )

    async def _late_payment(self, applied: Applied) -> None:
        if applied.drop_id is None:
            return
        drop = await self.drops.get_any(applied.drop_id)
        if drop is None:
            return
        await self._notify(
            drop.guild_id,
            f"A payment for **{drop.name}** arrived after its hold ended, and no unit was free "
            f"any more (order {applied.order_ref}, <@{applied.user_id}>). Please refund it in "
            "your shop; it is not counted as sold.",
        )

    async def counts(self, drop_id: int) -> ClaimCounts:
        return await self.holds.counts(drop_id)

    async def claims_of(self, drop_id: int) -> list[Claim]:
        return await self.holds.claims_of(drop_id)

    async def claim_of(self, drop_id: int, user_id: int) -> Claim | None:
        return await self.holds.claim_of(drop_id, user_id)
