"""claim_storm: N distinct fans press Get my link on a drop of S units, 32 at a time.

``python -m bench.claim_storm`` (``./dev bench claim_storm``): the real bot in its own process
(``dropbell run``), connected to the sandbox Discord and to the sandbox shop (both in this
process) through ``DROPBELL_SHOPS__SANDBOX__*``. A drop selling the sandbox tee is created with
``/drop create ... product:`` and its link pool is filled by the bot before it opens; once the
pool holds a link per unit and the margin, ``/drop open`` opens it and 5,000 fans press Get my
link for 500 units. It prints claims/s and p50/p99 from the press to the answer (all, and the 500
carrying a link), beside the /ping and button floors of the same run and the ratios; then
checks the outcome against the database (a SQLite file, or PostgreSQL with ``--database
postgresql``): exactly S answers carried a link, every link distinct, no fan with two, each
answered link is the fan's claim on disk, remaining stock 0, the other N - S answers say sold
out. Targets on a 2-core machine: ratio to /ping >= 0.5, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import database, targets
from bench.bot_process import dropbell_process
from bench.floor import (
    Figures,
    button_floor_figures,
    floor_figures,
    measure,
    ping_bot_process,
    print_checks,
    print_comparison,
)
from bench.profile import profiled
from sandbox import InteractionResult, Member, Message, Sandbox, SeedInfo, seed_demo_world
from sandbox.shop.server import SandboxShop
from services.dropday.pool import margin
from services.stats import percentile

WARM_UP = 300
WARM_UP_STOCK = 100
PRICE = "price_bench_tee"
HOLD_MINUTES = 15  # no hold ends during the storm


@dataclass(frozen=True)
class Answer:
    user_id: int
    content: str
    url: str | None
    latency: float


async def run(
    n: int,
    stock: int,
    concurrency: int,
    floor_n: int,
    profile: bool = False,
    kind: str = database.SQLITE,
) -> bool:
    async with database.workspace(kind) as (folder, url):
        async with Sandbox() as sb, SandboxShop() as shop:
            shop.catalog.add_product(PRICE, "Bench Tee", 3500, stock=stock + WARM_UP_STOCK)
            seed = seed_demo_world(sb, fans=0)
            async with ping_bot_process(sb):
                await floor_figures(sb, WARM_UP, concurrency)  # warm-up
                floor = [await floor_figures(sb, floor_n, concurrency)]
                await button_floor_figures(sb, WARM_UP, concurrency)  # warm-up
                buttons = [await button_floor_figures(sb, floor_n, concurrency)]
            fans = [sb.create_member(seed.guild.id, f"fan{i}") for i in range(n)]
            early = [sb.create_member(seed.guild.id, f"early{i}") for i in range(WARM_UP)]
            env = {
                "DROPBELL_SHOPS__SANDBOX__KIND": "sandbox",
                "DROPBELL_SHOPS__SANDBOX__API_BASE": shop.base_url,
                "DROPBELL_SHOPS__SANDBOX__WEBHOOK_SECRET": shop.stripe.webhook_secret,
                "DROPBELL_DROPS__HOLD_MINUTES": str(HOLD_MINUTES),
            }
            log = folder / "bot.log"
            async with dropbell_process(sb, url, seed.guild.id, log=log, env=env) as process:
                # Both drops open within the hour, so the bot fills their pools before opening.
                warm_id = await create_selling_drop(sb, seed, "Warm-up Tee", WARM_UP_STOCK)
                drop_id = await create_selling_drop(sb, seed, "Bench Tee", stock)
                loop = asyncio.get_running_loop()
                started = loop.time()
                # The whole pool (a link per unit and the margin) is issued before opening, as
                # it would be in the hour before a real drop: the storm measures claims alone.
                full = {warm_id: WARM_UP_STOCK, drop_id: stock}
                await wait_for_pool(url, {d: u + margin(u) for d, u in full.items()})
                pool_seconds = loop.time() - started
                sessions = len(shop.stripe.sessions)
                # The same warm-up the floors had, on a drop of its own (links and sold out).
                warm_post = await open_drop(sb, seed, warm_id)
                await measure(
                    lambda i: press(sb, early[i], warm_post, warm_id, []), WARM_UP, concurrency
                )
                post = await open_drop(sb, seed, drop_id)
                answers: list[Answer] = []

                def inject(i: int) -> Awaitable[InteractionResult]:
                    return press(sb, fans[i], post, drop_id, answers)

                sb.reset_request_counts()
                shop_requests = len(shop.catalog.requests)
                async with contextlib.AsyncExitStack() as stack:
                    if profile:
                        svg = await stack.enter_async_context(profiled(process.pid, "claim_storm"))
                        print(f"profiling the bot (pid {process.pid}) into {svg}")
                    claims = await measure(inject, n, concurrency)
                requests = sb.request_counts()
                shop_during = shop.catalog.requests[shop_requests:]
                await asyncio.sleep(1)  # anything the bot still writes after the last answer
            on_disk = await read_outcome(url, drop_id)
        print(
            f"claim_storm ({database.label(kind)}): {n:,} distinct fans press Get my link for "
            f"{stock:,} units, {concurrency} in flight, bot in its own process"
        )
        print(
            f"  link pool: {sessions:,} Checkout Sessions issued by the sandbox shop before "
            f"opening ({pool_seconds:.1f} s until both pools held a link per unit and the margin)"
        )
        print_comparison("claim (dropbell)", [claims], floor, buttons=buttons)
        linked = [a for a in answers if a.url is not None]
        refused = [a for a in answers if a.url is None]
        print_latencies("answers with a link", linked)
        print_latencies("sold-out answers", refused)
        print_over_time(answers, stock)
        shop_calls = Counter(f"{method} {path.split('/cs_')[0]}" for method, path, _ in shop_during)
        print(
            "  shop requests during the storm: "
            + (", ".join(f"{k} x{v}" for k, v in shop_calls.items()) or "none")
        )
        pool = ", ".join(f"{state} {count:,}" for state, count in sorted(on_disk.links.items()))
        print(f"  the drop's links afterwards: {pool}")
        return report(claims, floor[0], answers, on_disk, n, stock, requests)


async def press(
    sb: Sandbox, fan: Member, post: Message, drop_id: int, answers: list[Answer]
) -> InteractionResult:
    result = await sb.click(fan, post, f"dropbell:claim:{drop_id}", timeout=30)
    answers.append(Answer(fan.user.id, result.content, link_url(result.components), result.latency))
    return result


def link_url(components: list[dict[str, Any]]) -> str | None:
    """The URL of the answer's link button (style 5), if it carries one."""
    for row in components:
        for component in row.get("components", []):
            if component.get("style") == 5:
                return str(component["url"])
    return None


async def create_selling_drop(sb: Sandbox, seed: SeedInfo, name: str, stock: int) -> int:
    """``/drop create`` selling the sandbox tee, opening in half an hour; the drop's id."""
    starts = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M")
    created = await sb.slash(
        seed.manager,
        "drop create",
        {
            "name": name,
            "starts_at": starts,
            "timezone": "UTC",
            "stock": stock,
            "channel": seed.drops,
            "product": f"sandbox:{PRICE}",
        },
        timeout=30,
    )
    followup = await created.wait_followup(timeout=30)
    if "is announced" not in followup.content:
        raise RuntimeError(f"/drop create {name}: {followup.content}")
    post = sb.messages(seed.drops.id)[-1]
    join = next(c for c in post.custom_ids() if c.startswith("dropbell:join:"))
    return int(join.rsplit(":", 1)[1])


async def wait_for_pool(url: str, wanted: dict[int, int], timeout: float = 300) -> None:
    """Until each drop's pool holds ``wanted`` ready links (read from the bot's database)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ready = dict(
            await database.rows(
                url,
                "SELECT drop_id, count(*) FROM claim_links WHERE state = 'ready' GROUP BY drop_id",
            )
        )
        if all(ready.get(drop_id, 0) >= units for drop_id, units in wanted.items()):
            return
        if loop.time() > deadline:
            raise RuntimeError(f"the link pools did not fill: {ready} ready, wanted {wanted}")
        await asyncio.sleep(0.2)


async def open_drop(sb: Sandbox, seed: SeedInfo, drop_id: int) -> Message:
    """``/drop open``; the opening post carrying Get my link."""
    opened = await sb.slash(seed.manager, "drop open", {"drop": str(drop_id)}, timeout=30)
    followup = await opened.wait_followup(timeout=30)
    if "opens now" not in followup.content:
        raise RuntimeError(f"/drop open {drop_id}: {followup.content}")
    custom_id = f"dropbell:claim:{drop_id}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        for message in reversed(sb.messages(seed.drops.id)):
            button = message.components_by_id().get(custom_id)
            if button is not None and not button.get("disabled"):
                return message
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no opening post with {custom_id}")


@dataclass(frozen=True)
class OnDisk:
    remaining: int
    stock: int
    claims: dict[int, str]  # user id -> url of the claim's link
    claim_rows: int
    distinct_links: int
    states: Counter[str]
    links: Counter[str]  # the drop's pooled links by state


async def read_outcome(url: str, drop_id: int) -> OnDisk:
    ((remaining, stock),) = await database.rows(
        url, "SELECT remaining, stock FROM drops WHERE id = :id", id=drop_id
    )
    rows = await database.rows(
        url,
        "SELECT c.user_id, l.url, c.link_id, c.state FROM claims c "
        "JOIN claim_links l ON l.id = c.link_id WHERE c.drop_id = :id",
        id=drop_id,
    )
    links = Counter(
        dict(
            await database.rows(
                url,
                "SELECT state, count(*) FROM claim_links WHERE drop_id = :id GROUP BY state",
                id=drop_id,
            )
        )
    )
    return OnDisk(
        remaining=remaining,
        stock=stock,
        claims={user_id: url for user_id, url, _, _ in rows},
        claim_rows=len(rows),
        distinct_links=len({link_id for _, _, link_id, _ in rows}),
        states=Counter(state for *_, state in rows),
        links=links,
    )


def print_latencies(label: str, answers: list[Answer]) -> None:
    latencies = sorted(a.latency for a in answers)
    if latencies:
        print(
            f"  {label}: {len(latencies):,}, p50 {percentile(latencies, 0.50) * 1000:.2f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms"
        )


def print_over_time(answers: list[Answer], size: int) -> None:
    """p50/p99 of each ``size`` answers in the order they came back: where the slow ones are."""
    slices = []
    for start in range(0, len(answers), size):
        latencies = sorted(a.latency for a in answers[start : start + size])
        slices.append(
            f"{percentile(latencies, 0.50) * 1000:.0f}/{percentile(latencies, 0.99) * 1000:.0f}"
        )
    print(f"  p50/p99 ms of each {size:,} answers in turn: {' '.join(slices)}")


def report(
    claims: Figures,
    floor: Figures,
    answers: list[Answer],
    disk: OnDisk,
    n: int,
    stock: int,
    requests: Counter[str],
) -> bool:
    linked = [a for a in answers if a.url is not None]
    urls = Counter(a.url for a in linked)
    per_fan = Counter(a.user_id for a in linked)
    sold_out = sum(1 for a in answers if a.url is None and "is sold out" in a.content)
    matches = sum(1 for a in linked if disk.claims.get(a.user_id) == a.url)
    callbacks = sum(count for route, count in requests.items() if route.endswith("/callback"))
    others = (
        ", ".join(
            f"{route} x{count}"
            for route, count in requests.items()
            if not route.endswith("/callback")
        )
        or "none"
    )
    link_p99 = percentile(sorted(a.latency for a in linked), 0.99) * 1000 if linked else 0.0
    ratio = claims.per_second / floor.per_second if floor.per_second else 0.0
    checks = {
        f"answers: {len(answers):,} of {n:,} presses ({claims.errors} errors)": (
            len(answers) == n and claims.errors == 0
        ),
        f"answers carrying a link: exactly {stock:,} ({len(linked):,})": len(linked) == stock,
        f"every link distinct ({len(urls):,} distinct of {len(linked):,})": (
            len(urls) == len(linked)
        ),
        f"no fan got two links (most links to one fan: {max(per_fan.values(), default=0)})": (
            all(count == 1 for count in per_fan.values())
        ),
        f"each answered link is that fan's claim on disk ({matches:,} of {len(linked):,})": (
            matches == len(linked)
        ),
        f"claims on disk: {disk.claim_rows:,} rows, {disk.distinct_links:,} distinct links, "
        f"{dict(disk.states)}": (disk.claim_rows == disk.distinct_links == stock),
        f"remaining stock on disk: {disk.remaining} of {disk.stock}": disk.remaining == 0,
        f"links issued for the drop: {sum(disk.links.values()):,} (a link per unit and the "
        f"margin: {stock + margin(stock):,}; none issued again during the storm)": (
            sum(disk.links.values()) == stock + margin(stock)
        ),
        f"answers saying sold out: {sold_out:,} (expected {n - stock:,})": sold_out == n - stock,
        f"interaction responses: {callbacks:,} (one per press); other REST calls: {others}": (
            callbacks == n
        ),
        f"ratio to floor {ratio:.2f} >= {targets.CLAIM_RATIO_TO_PING}": (
            ratio >= targets.CLAIM_RATIO_TO_PING
        ),
        f"p99 {claims.p99_ms:.1f} ms <= {targets.CLAIM_P99_MS:g} ms": (
            claims.p99_ms <= targets.CLAIM_P99_MS
        ),
        f"p99 of the answers with a link {link_p99:.1f} ms <= {targets.CLAIM_P99_MS:g} ms": (
            link_p99 <= targets.CLAIM_P99_MS
        ),
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000, help="distinct fans (5,000)")
    parser.add_argument("--stock", type=int, default=500, help="units (500)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--floor-n", type=int, default=3_000, help="/ping interactions (3,000)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the bot with py-spy during the storm (bench/profiles/claim_storm*)",
    )
    database.add_argument(parser)
    args = parser.parse_args(argv)
    ok = asyncio.run(
        run(args.n, args.stock, args.concurrency, args.floor_n, args.profile, args.database)
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
