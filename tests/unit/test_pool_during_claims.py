"""The link pool while fans claim: it tops up to one link per unit left plus the margin, even when
the drop it was handed was read before the latest claims committed.

The keeper reads the selling drops, then tops up each in turn (awaiting reads and shop calls);
during a storm, claims commit in between, so the ``Drop`` it hands to ``top_up`` says more units
remain than do. ``bench/claim_storm`` showed it: up to 38 Checkout Sessions issued during the
storm beyond the 550 the pool holds for 500 units.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from sandbox.shop import SandboxShop as ShopServer
from services.dropday.pool import LinkPool, margin
from services.drops.allocation import decide_claim
from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.events import DropEvents
from services.localtime import utcnow
from shops.sandbox import SandboxShop
from storage.claims import Claimed, ClaimRequest, write_claim_batch
from storage.engine import Database
from storage.link_pool import LinkPoolStore
from storage.migrate import upgrade
from storage.states import DropStatus
from tests.databases import database_url

PRICE = "price_pool_tee"
STOCK = 10
HOLD = timedelta(minutes=15)
FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))


@pytest.fixture
async def server() -> AsyncIterator[ShopServer]:
    async with ShopServer() as shop:
        shop.catalog.add_product(PRICE, "Pool Tee", 3500, stock=100)
        yield shop


async def test_a_top_up_with_a_drop_read_before_claims_issues_no_spare_links(
    server: ShopServer, tmp_path: Path
) -> None:
    database = Database(database_url(tmp_path / "pool.db"))
    shop = SandboxShop("sandbox", api_base=server.base_url)
    try:
        await upgrade(database)
        service = DropService(database, DropEvents())
        starts = utcnow() + timedelta(minutes=5)
        spec = DropSpec("Pool Tee", starts, "UTC", STOCK, product=f"sandbox:{PRICE}")
        created = await service.create(1, 9, spec)
        live = await service.store.move_status(
            created.id, DropStatus.SCHEDULED, DropStatus.LIVE, utcnow()
        )
        assert live is not None
        pool = LinkPool(LinkPoolStore(database), {"sandbox": shop}, HOLD)
        assert await pool.top_up(live)
        assert len(server.stripe.sessions) == STOCK + margin(STOCK)

        # Six fans claim (one group commit), after the keeper read the drop as `live`.
        requests = [ClaimRequest(1, live.id, fan, f"fan {fan}", FAN) for fan in range(6)]
        decide = decide_claim(lambda _request: False)  # nobody holds a tier
        outcomes = await database.run_write(
            partial(write_claim_batch, requests, decide, HOLD, starts + timedelta(minutes=1))
        )
        assert all(isinstance(outcome, Claimed) for outcome in outcomes)

        assert await pool.top_up(live)  # the keeper's stale read: remaining 10, not 4
        # 4 units left and 6 ready links: the pool already holds a link per unit plus the
        # margin, so nothing is issued.
        assert len(server.stripe.sessions) == STOCK + margin(STOCK)
    finally:
        await shop.aclose()
        await database.dispose()
