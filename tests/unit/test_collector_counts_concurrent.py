"""Two payments of one fan (two drops) applied at once on PostgreSQL count both purchases.

Each payment is the real webhook transaction (``OrderStore.apply``) on its own engine, as two
bot processes run it; both are made to reach the fan's recount before either commits (a
threading barrier in front of ``recount_after_order``), so each marks its own claim paid
without seeing the other's. Counting without a lock on the profile row loses a purchase (the
later write wins) or, for a first purchase, fails one webhook on the profile's primary key.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection

import storage.orders
from services.drops.allocation import decide_claim
from storage.claims import Claimed, ClaimRequest, write_claim_batch
from storage.collector_counts import recount_after_order
from storage.engine import Database
from storage.migrate import upgrade
from storage.orders import Applied, OrderFacts, OrderStore, Outcome
from tests.databases import database_url, on_postgresql, query
from tests.unit.test_claims_never_oversell import FAN, GUILD, HOLD, selling_drop

pytestmark = pytest.mark.skipif(
    not on_postgresql(), reason="about PostgreSQL's concurrent writers: PostgreSQL leg"
)
USER = 7


def paid(claimed: Claimed, event: str) -> OrderFacts:
    # selling_drop's links are made ready with link_ref "cs_<link id>".
    link_ref = f"cs_{claimed.claim.link_id}"
    return OrderFacts("sandbox", event, "paid", link_ref, None, f"order-{event}")


async def claims_in(path: Path, drops: int) -> tuple[list[Claimed], datetime]:
    """``drops`` live drops, the fan holding a claim in each: the claims, and a moment then."""
    async with Database(database_url(path)) as database:
        await upgrade(database)
    claimed: list[Claimed] = []
    now = datetime.now(UTC)
    for index in range(drops):
        drop_id, now, _ = await selling_drop(path, stock=2, links=2, name=f"Moth {index}")
        request = ClaimRequest(GUILD, drop_id, USER, "fan 7", FAN)
        nobody_is_a_collector = decide_claim(lambda _request: False)
        work = partial(write_claim_batch, [request], nobody_is_a_collector, HOLD, now)
        async with Database(database_url(path)) as database:
            [outcome] = await database.run_write(work)
        assert isinstance(outcome, Claimed), outcome
        claimed.append(outcome)
    return claimed, now + timedelta(minutes=1)


@pytest.mark.parametrize("earlier", [0, 1], ids=["first-purchases", "after-one-purchase"])
def test_two_payments_of_one_fan_at_once_count_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier: int
) -> None:
    path = tmp_path / "recount.db"
    claimed, now = asyncio.run(claims_in(path, earlier + 2))

    async def pay_earlier() -> None:
        async with Database(database_url(path)) as database:
            for index, claim in enumerate(claimed[:earlier]):
                applied = await OrderStore(database).apply(paid(claim, f"early{index}"), now)
                assert applied.outcome == Outcome.PAID

    asyncio.run(pay_earlier())
    both_marked_paid = threading.Barrier(2, timeout=5)

    def recount_when_both_paid(connection: Connection, claim_id: int, at: datetime) -> int:
        # Both transactions have marked their claim paid and hold it uncommitted: each would
        # count only its own unless the recount waits for the other.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_marked_paid.wait()
        return recount_after_order(connection, claim_id, at)

    monkeypatch.setattr(storage.orders, "recount_after_order", recount_when_both_paid)
    results: list[Applied | BaseException | None] = [None, None]

    def webhook(index: int) -> None:
        loop = asyncio.new_event_loop()
        database = Database(database_url(path))  # its own engine: another process
        try:
            facts = paid(claimed[earlier + index], f"late{index}")
            results[index] = loop.run_until_complete(OrderStore(database).apply(facts, now))
        except BaseException as error:  # a failed webhook, surfaced below
            results[index] = error
        finally:
            loop.run_until_complete(database.dispose())
            loop.close()

    threads = [threading.Thread(target=webhook, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for result in results:
        assert isinstance(result, Applied) and result.outcome == Outcome.PAID, result
    [(purchases, first)] = query(
        path,
        "SELECT purchases, first_purchase_at FROM collector_profiles "
        "WHERE guild_id = :guild AND user_id = :user",
        guild=GUILD,
        user=USER,
    )
    assert purchases == earlier + 2, "a purchase was lost"
    assert first is not None
