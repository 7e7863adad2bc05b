"""link_pool: issue a drop's purchase links through the Stripe adapter against the sandbox shop
held to Stripe's 25 requests/s per endpoint; the time against the floor (requests / limit).

``./dev bench link_pool``. The adapter paces itself client-side (token bucket) and waits out
``Retry-After`` on any 429, so every link is issued, each 429 answered by a later retry.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from bench import targets
from bench.floor import print_checks
from sandbox.shop import SandboxShop as ShopServer
from shops.base import IssuedLink
from shops.stripe import StripeShop

PRICE = "price_bench_tee"
CREATE = "/v1/checkout/sessions"


async def run(n: int, limit: float, in_flight: int, client_rate: float | None = None) -> bool:
    async with ShopServer() as server:
        server.catalog.add_product(PRICE, "Bench Tee", 3500, stock=n)
        server.catalog.faults.rate_limit_per_second = limit
        shop = StripeShop(
            "bench",
            secret_key="sk_test_bench",
            webhook_secret="whsec_bench",
            api_base=server.base_url,
            requests_per_second=client_rate or limit,
        )
        gate = asyncio.Semaphore(in_flight)

        async def issue(i: int) -> IssuedLink:
            async with gate:
                return await shop.issue_link(PRICE, f"dropbell-1-pool-{i}")

        started = time.perf_counter()
        try:
            links = await asyncio.gather(*(issue(i) for i in range(n)))
        finally:
            await shop.aclose()
        seconds = time.perf_counter() - started
        refused = server.catalog.count("POST", CREATE, 429)
        created = server.catalog.count("POST", CREATE, 200)
        sessions = len(server.stripe.sessions)
    floor = n / limit
    ratio = seconds / floor
    distinct = len({link.link_id for link in links})
    print(
        f"link_pool: {n} links through the Stripe adapter, sandbox shop limited to {limit:g} "
        f"requests/s per endpoint, {in_flight} in flight, adapter paced at "
        f"{client_rate or limit:g}/s"
    )
    print(
        f"  elapsed {seconds:.2f} s; floor {n} requests / {limit:g}/s = {floor:.2f} s; "
        f"ratio {ratio:.3f}x"
    )
    print(
        f"  429s: {refused} from the shop, {shop.throttled} waited out by the adapter; "
        f"sessions created: {created} answers, {sessions} distinct in the shop; "
        f"links returned: {len(links)} ({distinct} distinct)"
    )
    checks = {
        f"time {ratio:.3f}x floor <= {targets.LINK_POOL_RATIO_TO_FLOOR}x": (
            ratio <= targets.LINK_POOL_RATIO_TO_FLOOR
        ),
        f"no 429 left unanswered ({refused} seen, {shop.throttled} retried)": (
            refused == shop.throttled and len(links) == n
        ),
        f"exactly {n} distinct sessions ({sessions} in the shop, {distinct} returned)": (
            sessions == distinct == n
        ),
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="links to issue (500)")
    parser.add_argument("--limit", type=float, default=25, help="requests/s per endpoint (25)")
    parser.add_argument("--in-flight", type=int, default=32, help="concurrent issues (32)")
    parser.add_argument(
        "--client-rate",
        type=float,
        default=None,
        help="pace the adapter at this rate instead of the limit (above it shows 429s handled)",
    )
    args = parser.parse_args(argv)
    ok = asyncio.run(run(args.n, args.limit, args.in_flight, args.client_rate))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
