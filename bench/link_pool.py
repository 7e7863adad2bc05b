"""link_pool: the bot's link pool (LinkPool.top_up) issues a drop's links under Stripe's limit.

Through the Stripe adapter against the sandbox shop held to Stripe's 25 requests/s per
endpoint; the time against the floor (requests / limit).

``./dev bench link_pool``. A live drop of 454 units wants 500 links (its stock plus the pool's
margin of 46): ``top_up`` reserves the rows, issues them ``--in-flight`` at a time and writes the
answers back, on a fresh database (``--database postgresql`` runs it on PostgreSQL,
bench/database.py). The adapter paces itself client-side (token bucket) and waits out
``Retry-After`` on any 429, so every link is issued, each 429 answered by a later retry.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import timedelta

from bench import database, targets
from bench.floor import print_checks
from sandbox.shop import SandboxShop as ShopServer
from services.dropday.pool import CONCURRENCY, LinkPool, margin
from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from services.localtime import utcnow
from shops.stripe import StripeShop
from storage.drops import Drop
from storage.engine import Database
from storage.link_pool import LinkPoolStore
from storage.migrate import upgrade
from storage.states import DropStatus, LinkState

PRICE = "price_bench_tee"
CREATE = "/v1/checkout/sessions"
SHOP = "bench"
HOLD = timedelta(minutes=15)
STOCK = 454  # + margin(454) = 46: 500 links


async def live_drop(db: Database, stock: int) -> Drop:
    """A drop selling PRICE from the bench shop, opening in 5 minutes (within the pool's hour
    of lead) and already live, as the keeper leaves it at opening."""
    service = DropService(db, DropEvents())
    spec = DropSpec(
        "Bench Tee", utcnow() + timedelta(minutes=5), "UTC", stock, product=f"{SHOP}:{PRICE}"
    )
    created = await service.create(1, 9, spec)
    live = await service.store.move_status(
        created.id, DropStatus.SCHEDULED, DropStatus.LIVE, utcnow()
    )
    if live is None:
        raise SystemExit(f"the bench drop {created.id} could not be moved to live")
    return live


async def run(
    stock: int,
    limit: float,
    in_flight: int,
    client_rate: float | None = None,
    kind: str = database.SQLITE,
) -> bool:
    n = stock + margin(stock)
    async with database.workspace(kind) as (_, url), ShopServer() as server:
        server.catalog.add_product(PRICE, "Bench Tee", 3500, stock=n)
        server.catalog.faults.rate_limit_per_second = limit
        db = Database(url)
        shop = StripeShop(
            SHOP,
            secret_key="sk_test_bench",
            webhook_secret="whsec_bench",
            success_url=f"{server.base_url}/thanks",
            cancel_url=f"{server.base_url}/",
            api_base=server.base_url,
            requests_per_second=client_rate or limit,
        )
        try:
            # Schema and drop before the clock starts: only the top-up is timed.
            await upgrade(db)
            drop = await live_drop(db, stock)
            pool = LinkPool(LinkPoolStore(db), {SHOP: shop}, HOLD, concurrency=in_flight)
            started = time.perf_counter()
            filled = await pool.top_up(drop)
            seconds = time.perf_counter() - started
        finally:
            await shop.aclose()
            await db.dispose()
        refused = server.catalog.count("POST", CREATE, 429)
        created = server.catalog.count("POST", CREATE, 200)
        sessions = len(server.stripe.sessions)
        # What a fan's claim will find: the drop's rows, not what the shop calls returned.
        ((ready, distinct, others),) = await database.rows(
            url,
            "SELECT count(CASE WHEN state = :ready THEN 1 END), "
            "count(DISTINCT CASE WHEN state = :ready THEN link_ref END), "
            "count(CASE WHEN state != :ready THEN 1 END) FROM claim_links WHERE drop_id = :drop",
            ready=LinkState.READY.value,
            drop=drop.id,
        )
    floor = n / limit
    ratio = seconds / floor
    print(
        f"link_pool ({database.label(kind)}): {n} links (stock {stock} + margin {n - stock}) "
        f"through LinkPool.top_up and the Stripe adapter, sandbox shop limited to {limit:g} "
        f"requests/s per endpoint, concurrency {in_flight}, adapter paced at "
        f"{client_rate or limit:g}/s"
    )
    print(
        f"  elapsed {seconds:.2f} s; floor {n} requests / {limit:g}/s = {floor:.2f} s; "
        f"ratio {ratio:.3f}x"
    )
    print(
        f"  429s: {refused} from the shop, {shop.throttled} waited out by the adapter; "
        f"sessions created: {created} answers, {sessions} distinct in the shop; "
        f"ready rows: {ready} ({distinct} distinct links), {others} in other states; "
        f"top_up {'filled the pool' if filled else 'reported a failure'}"
    )
    checks = {
        f"time {ratio:.3f}x floor <= {targets.LINK_POOL_RATIO_TO_FLOOR}x": (
            ratio <= targets.LINK_POOL_RATIO_TO_FLOOR
        ),
        f"no 429 left unanswered ({refused} seen, {shop.throttled} retried)": (
            refused == shop.throttled and filled
        ),
        f"exactly {n} distinct ready links ({sessions} sessions in the shop, {ready} ready rows, "
        f"{distinct} distinct)": (sessions == ready == distinct == n and others == 0),
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--stock",
        type=int,
        default=STOCK,
        help=f"the drop's units; the pool issues them plus its margin ({STOCK}: 500 links)",
    )
    parser.add_argument("--limit", type=float, default=25, help="requests/s per endpoint (25)")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=CONCURRENCY,
        help=f"the pool's concurrency: shop calls in flight ({CONCURRENCY})",
    )
    parser.add_argument(
        "--client-rate",
        type=float,
        default=None,
        help="pace the adapter at this rate instead of the limit (above it shows 429s handled)",
    )
    database.add_argument(parser)
    args = parser.parse_args(argv)
    if args.stock < 1:
        parser.error("--stock must be at least 1: a drop with no units wants no links.")
    if args.in_flight < 1:
        parser.error("--in-flight must be at least 1: the pool needs one shop call at a time.")
    ok = asyncio.run(run(args.stock, args.limit, args.in_flight, args.client_rate, args.database))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
