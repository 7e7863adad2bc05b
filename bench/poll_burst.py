"""poll_burst: N fans commit on one poll (option, then a quantity: two interactions each), 32
in flight, bot in its own process.

``python -m bench.poll_burst --n 5000`` prints interactions/s and p50/p99 from injection to
answer beside the floors of the same run (a bare discord.py bot answering /ping, and its own
button), then checks: the sums per option in the database equal what was sent, the goal was
announced once, one interaction response per press, the post's tally edits coalesced.
Targets on a 2-core machine: ratio >= 0.5 and p99 <= 100 ms. ``--database postgresql`` runs
the bot on PostgreSQL (bench/database.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence

from bench import database, targets
from bench.bot_process import dropbell_process
from bench.floor import (
    Figures,
    button_floor_figures,
    floor_figures,
    ping_bot_process,
    print_checks,
    print_comparison,
)
from bench.profile import profiled
from sandbox import Message, Sandbox, SeedInfo, seed_demo_world
from sandbox.models import Member
from services.polls.rules import MAX_GOAL
from services.stats import percentile

WARM_UP = 300
OPTIONS = 3


def quantity_of(i: int) -> int:
    return 1 + i % 5


async def create_poll(sb: Sandbox, seed: SeedInfo, question: str, goal: int) -> Message:
    created = await sb.slash(
        seed.manager,
        "poll create",
        {
            "question": question,
            "options": "Moth Tee @ 35; Moth Hoodie @ 60; Moth Cap @ 20",
            "goal": goal,
            "closes_at": "2031-01-01 12:00",
            "timezone": "UTC",
            "channel": seed.drops,
        },
        timeout=30,
    )
    await created.wait_followup(timeout=30)
    return sb.messages(seed.drops.id)[-1]


async def burst(
    sb: Sandbox, post: Message, fans: list[Member], concurrency: int, *, show: bool = True
) -> tuple[Figures, list[str]]:
    """Each fan: the option button, then a number on the panel it answered with."""
    poll_id = int(next(iter(post.custom_ids())).split(":")[2])
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"option": [], "quantity": []}
    answers: list[str] = []
    errors = 0
    counter = iter(range(len(fans)))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            option = i % OPTIONS
            try:
                panel = await sb.click(
                    fans[i], post, f"dropbell:poll:{poll_id}:{option}", timeout=30
                )
                assert panel.message is not None
                done = await sb.click(
                    fans[i],
                    panel.message,
                    f"dropbell:commit:{poll_id}:{option}:{quantity_of(i)}",
                    timeout=30,
                )
            except Exception:
                errors += 1
                continue
            latencies.extend((panel.latency, done.latency))
            by_kind["option"].append(panel.latency)
            by_kind["quantity"].append(done.latency)
            answers.append(done.content)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    for kind, values in by_kind.items():
        values.sort()
        if values and show:
            print(
                f"  {kind} presses: p50 {percentile(values, 0.5) * 1000:.1f} ms, "
                f"p99 {percentile(values, 0.99) * 1000:.1f} ms"
            )
    figures = Figures(
        n=2 * len(fans),
        concurrency=concurrency,
        seconds=seconds,
        per_second=len(latencies) / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=errors,
    )
    return figures, answers


async def run(
    n: int, concurrency: int, floor_n: int, profile: bool = False, kind: str = database.SQLITE
) -> bool:
    async with database.workspace(kind) as (folder, url):
        async with Sandbox() as sb:
            sb.relax("channel_send_limit", reason="the polls and the goal post share a channel")
            seed = seed_demo_world(sb, fans=0)
            async with ping_bot_process(sb):
                await floor_figures(sb, WARM_UP, concurrency)  # warm-up
                floor = [await floor_figures(sb, floor_n, concurrency)]
                await button_floor_figures(sb, WARM_UP, concurrency)  # warm-up
                buttons = [await button_floor_figures(sb, floor_n, concurrency)]
            fans = [sb.create_member(seed.guild.id, f"fan{i}") for i in range(n)]
            early = [sb.create_member(seed.guild.id, f"early{i}") for i in range(WARM_UP // 2)]
            async with dropbell_process(sb, url, seed.guild.id, log=folder / "log") as process:
                # A goal its few warm-up commits never reach (the largest a poll may have).
                warm = await create_poll(sb, seed, "Warm-up?", MAX_GOAL)
                await burst(sb, warm, early, concurrency, show=False)
                sent = [sum(quantity_of(i) for i in range(n) if i % OPTIONS == o) for o in range(3)]
                goal = sum(sent) // 2  # reached in the middle of the burst
                post = await create_poll(sb, seed, "Bench poll?", goal)
                sb.reset_request_counts()
                async with contextlib.AsyncExitStack() as stack:
                    if profile:
                        svg = await stack.enter_async_context(profiled(process.pid, "poll_burst"))
                        print(f"profiling the bot (pid {process.pid}) into {svg}")
                    figures, answers = await burst(sb, post, fans, concurrency)
                requests = sb.request_counts()
                await asyncio.sleep(4)  # the last coalesced edit and the goal post land
                edits = sb.world.messages_by_id[post.id].edits
                goal_posts = [
                    m
                    for m in sb.messages(seed.drops.id)
                    if "**Bench poll?** reached its goal" in m.content
                ]
        print(
            f"poll_burst ({database.label(kind)}): {n:,} fans x (option + quantity), "
            f"{concurrency} in flight, bot in its own process"
        )
        print_comparison("poll press (dropbell)", [figures], floor, buttons=buttons)
        stored = [
            units
            for (units,) in await database.rows(
                url,
                "SELECT o.units FROM poll_options o JOIN polls p ON p.id = o.poll_id "
                "WHERE p.question = 'Bench poll?' ORDER BY o.idx",
            )
        ]
        (rows,) = await database.rows(
            url,
            "SELECT sum(quantity), count(*) FROM poll_commitments c JOIN polls p "
            "ON p.id = c.poll_id WHERE p.question = 'Bench poll?'",
        )
        callbacks = sum(c for route, c in requests.items() if route.endswith("/callback"))
        others = sum(requests.values()) - callbacks
        ratio = figures.per_second / floor[0].per_second if floor[0].per_second else 0.0
        checks = {
            f"units per option {stored} == sent {sent}; rows {rows[1]:,}, sum {rows[0]:,}": (
                stored == sent and rows[1] == n and rows[0] == sum(sent)
            ),
            f"every press answered ({len(answers):,}/{n:,} commits, {figures.errors} errors)": (
                len(answers) == n and figures.errors == 0
            ),
            f"goal announced once ({len(goal_posts)})": len(goal_posts) == 1,
            f"interaction responses {callbacks:,} (one per press); other REST calls {others}": (
                callbacks == 2 * n and others <= edits + 1
            ),
            f"poll post edits: {edits} (coalesced, not one per commit)": edits < n / 10,
            f"ratio to floor {ratio:.2f} >= {targets.POLL_RATIO_TO_PING}": (
                ratio >= targets.POLL_RATIO_TO_PING
            ),
            f"p99 {figures.p99_ms:.1f} ms <= {targets.POLL_P99_MS:g} ms": (
                figures.p99_ms <= targets.POLL_P99_MS
            ),
        }
        return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000, help="fans (5,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--floor-n", type=int, default=3_000, help="/ping interactions (3,000)")
    parser.add_argument(
        "--profile", action="store_true", help="sample the bot with py-spy during the burst"
    )
    database.add_argument(parser)
    args = parser.parse_args(argv)
    ok = asyncio.run(run(args.n, args.concurrency, args.floor_n, args.profile, args.database))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
