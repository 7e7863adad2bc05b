"""The link pool issues its links several at a time, against a shop that is slow to answer.

One at a time, a top-up of N links waits N x the shop's latency: 550 Checkout Sessions at a
real shop's few hundred milliseconds take minutes where Stripe's 25 requests/s allow 22 s.
Through the real Stripe adapter and the sandbox shop over HTTP, with its slow-answer switch on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.shop import SandboxShop as ShopServer
from services.dropday.pool import LinkPool, margin
from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from services.localtime import utcnow
from shops.sandbox import SandboxShop
from storage.drops import Drop
from storage.engine import Database
from storage.link_pool import LinkPoolStore
from storage.migrate import upgrade
from storage.states import DropStatus, LinkState
from storage.tables import claim_links
from tests.databases import database_url

PRICE = "price_slow_tee"
STOCK = 22  # 22 units + a margin of 3: 25 links, one second of Stripe's 25 requests/s
HOLD = timedelta(minutes=15)
DELAY = 0.4  # seconds the sandbox shop waits before every answer
CONCURRENCY = 8
CREATE = "/v1/checkout/sessions"


@pytest.fixture
async def server() -> AsyncIterator[ShopServer]:
    async with ShopServer() as shop:
        shop.catalog.add_product(PRICE, "Slow Tee", 3500, stock=100)
        yield shop


async def live_drop(database: Database) -> Drop:
    service = DropService(database, DropEvents())
    starts = utcnow() + timedelta(minutes=5)
    spec = DropSpec("Slow Tee", starts, "UTC", STOCK, product=f"sandbox:{PRICE}")
    created = await service.create(1, 9, spec)
    live = await service.store.move_status(
        created.id, DropStatus.SCHEDULED, DropStatus.LIVE, utcnow()
    )
    assert live is not None
    return live


async def link_rows(database: Database, drop_id: int) -> list[tuple[str, str, str | None]]:
    query = select(claim_links.c.claim_ref, claim_links.c.state, claim_links.c.link_ref).where(
        claim_links.c.drop_id == drop_id
    )
    async with database.read() as connection:
        return [(r.claim_ref, r.state, r.link_ref) for r in (await connection.execute(query))]


async def test_a_slow_shop_fills_the_pool_concurrency_links_at_a_time(
    server: ShopServer, tmp_path: Path
) -> None:
    database = Database(database_url(tmp_path / "pool.db"))
    shop = SandboxShop("sandbox", api_base=server.base_url)
    try:
        await upgrade(database)
        drop = await live_drop(database)
        wanted = STOCK + margin(STOCK)
        pool = LinkPool(LinkPoolStore(database), {"sandbox": shop}, HOLD, CONCURRENCY)
        server.catalog.faults.slow_seconds = DELAY

        started = time.perf_counter()
        assert await pool.top_up(drop)
        elapsed = time.perf_counter() - started

        # About N / concurrency x delay (4 rounds of 0.4 s = 1.6 s), not N x delay (10 s).
        rounds = math.ceil(wanted / CONCURRENCY) * DELAY
        print(
            f"{wanted} links, shop delay {DELAY} s, concurrency {CONCURRENCY}: {elapsed:.2f} s "
            f"(N/concurrency x delay = {rounds:.2f} s; one at a time = {wanted * DELAY:.1f} s)"
        )
        assert elapsed < rounds * 1.5 + 0.5, elapsed
        # Each pending row asked once: one create per link, every row ready with its own link.
        assert server.catalog.count("POST", CREATE, 200) == wanted
        rows = await link_rows(database, drop.id)
        assert len(rows) == wanted
        assert all(state == LinkState.READY for _, state, _ in rows)
        assert len({link for _, _, link in rows}) == wanted == len(server.stripe.sessions)
    finally:
        await shop.aclose()
        await database.dispose()


async def test_a_top_up_cut_off_mid_way_resumes_without_a_second_link(
    server: ShopServer, tmp_path: Path
) -> None:
    database = Database(database_url(tmp_path / "pool.db"))
    shop = SandboxShop("sandbox", api_base=server.base_url)
    try:
        await upgrade(database)
        drop = await live_drop(database)
        wanted = STOCK + margin(STOCK)
        server.catalog.faults.slow_seconds = DELAY
        first = LinkPool(LinkPoolStore(database), {"sandbox": shop}, HOLD, CONCURRENCY)
        # Cut off (as a crash would) while calls are in flight: the shop may have created
        # sessions whose answers were never written down.
        task = asyncio.create_task(first.top_up(drop))
        await asyncio.sleep(DELAY * 2.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cut = await link_rows(database, drop.id)
        assert any(state == LinkState.ISSUING for _, state, _ in cut)
        assert any(state == LinkState.READY for _, state, _ in cut)

        # A new process's pool: the rows still issuing are asked again under the same key.
        server.catalog.faults.slow_seconds = 0
        again = LinkPool(LinkPoolStore(database), {"sandbox": shop}, HOLD, CONCURRENCY)
        assert await again.top_up(drop)
        rows = await link_rows(database, drop.id)
        assert len(rows) == wanted
        assert all(state == LinkState.READY for _, state, _ in rows)
        # Never a second session for one row: the shop holds exactly one per row.
        assert len({link for _, _, link in rows}) == wanted == len(server.stripe.sessions)
    finally:
        await shop.aclose()
        await database.dispose()
