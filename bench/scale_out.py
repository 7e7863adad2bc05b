"""scale_out: the claim storm on PostgreSQL with 1, 2 and 4 bot processes (shards), and the
join burst on PostgreSQL beside SQLite.

``python -m bench.scale_out`` (``./dev bench scale_out``). One sandbox (Discord and the shop, in
this process) and one PostgreSQL server (``DROPBELL_TEST_DATABASE``'s, or a throwaway one
started by ``.ci/postgres``). For k processes, k servers, server j in shard j of k (Discord's
``(guild_id >> 22) % k``), process j runs shard j; each server sells a drop of stock/k units
whose link pool is filled before it opens; then n fans (n/k per server) press Get my link, 32 in
flight, spread over the servers. It prints claims/s and p50/p99 for each k, the CPU each bot
process and the sandbox used, and checks exactly the stock sold (per drop: stock/k answers with
a distinct link, remaining 0). Target on a 2-core machine: 2 processes >= 1.3x one.
Then ``--joins`` fans join a waitlist through one process on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from pathlib import Path

from bench import row_contention, targets
from bench.bot_process import dropbell_process
from bench.claim_storm import PRICE, create_selling_drop, link_url, open_drop
from bench.database import postgres_admin, rows, scratch_databases
from bench.floor import Figures, measure, print_checks
from sandbox import InteractionResult, Member, Message, Sandbox, SeedInfo, seed_demo_world
from sandbox.gateway import shard_of
from sandbox.shop.server import SandboxShop
from services.dropday.pool import margin

PROCESS_COUNTS = (1, 2, 4)
MOST = max(PROCESS_COUNTS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def servers_per_shard(sb: Sandbox) -> list[SeedInfo]:
    """A server in each shard of MOST (and so of every smaller count dividing it)."""
    found: dict[int, SeedInfo] = {}
    while len(found) < MOST:
        seed = seed_demo_world(sb, fans=0, name=f"Club {len(sb.world.guilds)}")
        found.setdefault(shard_of(seed.guild.id, MOST), seed)
        await asyncio.sleep(0.001)
    return [found[shard] for shard in range(MOST)]


async def wait_for_pools(url: str, wanted: int, drops: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = await rows(
            url,
            "SELECT drop_id, count(*) FROM claim_links WHERE state = 'ready' GROUP BY drop_id",
        )
        if len(ready) == drops and all(count >= wanted for _, count in ready):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the link pools did not fill: {ready}")
        await asyncio.sleep(0.3)


async def storm(
    sb: Sandbox,
    shop: SandboxShop,
    url: str,
    servers: list[SeedInfo],
    k: int,
    n: int,
    stock: int,
    concurrency: int,
    folder: Path,
) -> tuple[Figures, dict[str, bool], str]:
    env = {
        "DROPBELL_SHOPS__SANDBOX__KIND": "sandbox",
        "DROPBELL_SHOPS__SANDBOX__API_BASE": shop.base_url,
        "DROPBELL_SHOPS__SANDBOX__WEBHOOK_SECRET": shop.stripe.webhook_secret,
        "DROPBELL_DROPS__HOLD_MINUTES": "15",
        "DROPBELL_DISCORD__SHARD_COUNT": str(k),
    }
    # A channel of its own per run: drop ids start again at 1 in each fresh database.
    used = [replace(s, drops=sb.create_channel(s.guild.id, f"drops-{k}")) for s in servers[:k]]
    per_drop = stock // k
    fans = [[sb.create_member(s.guild.id, f"k{k}fan{i}") for i in range(n // k)] for s in used]
    async with contextlib.AsyncExitStack() as stack:
        pids = []
        for shard, seed in enumerate(used):
            shard_env = env | {"DROPBELL_DISCORD__SHARD_IDS": f"[{shard}]"}
            log = folder / f"k{k}-shard{shard}.log"
            process = await stack.enter_async_context(
                dropbell_process(sb, url, seed.guild.id, log=log, env=shard_env)
            )
            pids.append(process.pid)
        drops = [await create_selling_drop(sb, seed, f"Tee {k}", per_drop) for seed in used]
        await wait_for_pools(url, per_drop + margin(per_drop), k)
        posts = [await open_drop(sb, seed, d) for seed, d in zip(used, drops, strict=True)]
        answers: list[tuple[int, str | None]] = []

        async def press(fan: Member, post: Message, drop_id: int) -> InteractionResult:
            result = await sb.click(fan, post, f"dropbell:claim:{drop_id}", timeout=30)
            answers.append((drop_id, link_url(result.components)))
            return result

        def inject(i: int) -> Awaitable[InteractionResult]:
            j = i % k
            return press(fans[j][i // k], posts[j], drops[j])

        # The server's processes answering the bots (their pooled connections persist).
        backends = [
            pid
            for (pid,) in await rows(
                url,
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
        ]
        server_before = sum(cpu_seconds(pid) for pid in backends)
        cpu_before = [cpu_seconds(pid) for pid in pids]
        own_before, wall_before = time.process_time(), time.monotonic()
        figures = await measure(inject, (n // k) * k, concurrency)
        wall = time.monotonic() - wall_before
        sandbox_cpu = (time.process_time() - own_before) / wall
        bots_cpu = [(cpu_seconds(pid) - b) / wall for pid, b in zip(pids, cpu_before, strict=True)]
        server_cpu = (sum(cpu_seconds(pid) for pid in backends) - server_before) / wall
        await asyncio.sleep(1)
    remaining = dict(await rows(url, "SELECT id, remaining FROM drops"))
    claims = dict(
        await rows(url, "SELECT drop_id, count(DISTINCT link_id) FROM claims GROUP BY drop_id")
    )
    checks = {}
    for drop_id in drops:
        linked = [u for d, u in answers if d == drop_id and u is not None]
        checks[
            f"k={k} drop {drop_id}: {len(linked)} answers with a link, {len(set(linked))} "
            f"distinct, {claims.get(drop_id, 0)} claims on disk, remaining "
            f"{remaining.get(drop_id)} (stock {per_drop})"
        ] = len(linked) == len(set(linked)) == claims.get(drop_id) == per_drop and (
            remaining.get(drop_id) == 0
        )
    cpu = ", ".join(f"{c * 100:.0f}%" for c in bots_cpu)
    line = (
        f"  {k} process{'es' if k > 1 else ''}: {figures.per_second:7.1f} claims/s, p50 "
        f"{figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms, {figures.errors} errors; "
        f"CPU: bots {cpu}, PostgreSQL {server_cpu * 100:.0f}% ({len(backends)} connections), "
        f"sandbox {sandbox_cpu * 100:.0f}%"
    )
    return figures, checks, line


async def join_burst(
    sb: Sandbox, url: str, n: int, concurrency: int, folder: Path
) -> tuple[Figures, int]:
    seed = seed_demo_world(sb, fans=0, name=f"Joins {len(sb.world.guilds)}")
    fans = [sb.create_member(seed.guild.id, f"joiner{i}") for i in range(n)]
    log = folder / f"joins-{len(sb.world.guilds)}.log"
    async with dropbell_process(sb, url, seed.guild.id, log=log):
        created = await sb.slash(
            seed.manager,
            "drop create",
            {
                "name": "Join Tee",
                "starts_at": "2099-01-01 18:00",
                "timezone": "UTC",
                "stock": 100,
                "channel": seed.drops,
            },
            timeout=30,
        )
        await created.wait_followup(timeout=30)
        post = sb.messages(seed.drops.id)[-1]
        join = next(c for c in post.custom_ids() if c.startswith("dropbell:join:"))
        figures = await measure(lambda i: sb.click(fans[i], post, join, timeout=30), n, concurrency)
        await asyncio.sleep(1)
    (entries,) = (await rows(url, "SELECT count(DISTINCT user_id) FROM waitlist_entries"))[0]
    return figures, entries


async def run(n: int, stock: int, concurrency: int, joins: int) -> bool:
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="dropbell-scale-") as name:
        folder = Path(name)
        async with (
            postgres_admin() as admin,
            scratch_databases(admin) as fresh_database,
            Sandbox() as sb,
            SandboxShop() as shop,
        ):
            shop.catalog.add_product(PRICE, "Bench Tee", 3500, stock=stock * 10)
            servers = await servers_per_shard(sb)
            print(
                f"scale_out: claim storm on PostgreSQL, {n:,} fans press Get my link for {stock:,} "
                f"units in all, {concurrency} in flight, one server per shard"
            )
            rates: dict[int, float] = {}
            for k in PROCESS_COUNTS:
                figures, storm_checks, line = await storm(
                    sb, shop, await fresh_database(), servers, k, n, stock, concurrency, folder
                )
                print(line, flush=True)
                rates[k] = figures.per_second
                checks |= storm_checks
                checks[f"k={k}: no errors ({figures.errors})"] = figures.errors == 0
            for k in PROCESS_COUNTS[1:]:
                print(f"  {k} processes / 1: {rates[k] / rates[1]:.2f}x")
            ratio = rates[2] / rates[1]
            checks[f"2 processes / 1 = {ratio:.2f}x >= {targets.SCALE_OUT_RATIO}x"] = (
                ratio >= targets.SCALE_OUT_RATIO
            )
            print(f"join burst: {joins:,} fans join one waitlist through one process")
            for label, url in (
                ("SQLite", f"sqlite+aiosqlite:///{folder / 'joins.db'}"),
                ("PostgreSQL", await fresh_database()),
            ):
                figures, entries = await join_burst(sb, url, joins, concurrency, folder)
                print(
                    f"  {label:<10}: {figures.per_second:7.1f} joins/s, p50 {figures.p50_ms:.1f} "
                    f"ms, p99 {figures.p99_ms:.1f} ms, {figures.errors} errors",
                    flush=True,
                )
                checks[f"{label}: {entries:,} entries for {joins:,} joins"] = entries == joins
            print("row contention: lock + conditional decrement of a drop row, committed")
            for line in await row_contention.measure(await fresh_database()):
                print(line, flush=True)
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="fans pressing (2,000)")
    parser.add_argument("--stock", type=int, default=400, help="units in all (400)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--joins", type=int, default=2_000, help="fans joining (2,000)")
    args = parser.parse_args(argv)
    ok = asyncio.run(run(args.n, args.stock, args.concurrency, args.joins))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
