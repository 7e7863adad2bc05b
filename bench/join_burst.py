"""join_burst: N distinct fans press Join on one drop, 32 at a time, bot in its own process.

``python -m bench.join_burst --n 10000`` prints joins/s and p50/p99 from injection to answer,
beside the framework floors of the same run (a bare discord.py bot answering /ping, and the
same bot answering its own button on an announcement-shaped message) and the ratios; then
checks the database holds exactly N entries, places 1..N. ``--database postgresql`` runs the
bot on PostgreSQL instead of a SQLite file (bench/database.py); the bare + SQLite floor stays
SQLite's either way. Then (bench/join_phases.py) the same fans join a drop with
``--flat-line`` fans already waiting (flat in N), and a burst where ``--reclick-share`` of the
presses are by fans already on the line. Targets: bench/targets.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from collections import Counter
from collections.abc import Awaitable, Sequence
from pathlib import Path

from bench import database, targets
from bench.bot_process import dropbell_process
from bench.floor import (
    Figures,
    button_floor_figures,
    cpu_seconds,
    floor_figures,
    measure,
    ping_bot_process,
    print_checks,
    print_comparison,
    sqlite_floor_figures,
)
from bench.join_phases import (
    PLACE,
    announce,
    check_burst,
    fill_line,
    further_phases,
    place_in,
)
from bench.profile import profiled
from sandbox import InteractionResult, Message, Sandbox, seed_demo_world

WARM_UP = 300


async def run(
    n: int,
    concurrency: int,
    floor_n: int,
    profile: bool = False,
    prefill: int = 0,
    reclick: float = 0.0,
    bursts: int = 2,
    kind: str = database.SQLITE,
    flat_line: int = 0,
    reclick_share: float = 0.0,
) -> bool:
    async with database.workspace(kind) as (folder, url):
        async with Sandbox() as sb:
            seed = seed_demo_world(sb, fans=0)
            floor_db = str(folder / "floor.db")
            async with ping_bot_process(sb, database=floor_db) as bot:
                await floor_figures(sb, WARM_UP, concurrency)  # warm-up
                floor = [await floor_figures(sb, floor_n, concurrency, bot.pid)]
                await button_floor_figures(sb, WARM_UP, concurrency)  # warm-up
                buttons = [await button_floor_figures(sb, floor_n, concurrency, bot.pid)]
                # The SQLite floor: the bare bot's own join (group commit, plain sqlite3).
                floor_fans = [
                    sb.create_member(seed.guild.id, f"floorfan{i}")
                    for i in range(WARM_UP + floor_n)
                ]
                await sqlite_floor_figures(sb, floor_fans[:WARM_UP], concurrency)  # warm-up
                sqlite = await sqlite_floor_figures(sb, floor_fans[WARM_UP:], concurrency, bot.pid)
            again = round(n * reclick)
            fans = [sb.create_member(seed.guild.id, f"fan{i}") for i in range(n - again)]
            returning = [sb.create_member(seed.guild.id, f"again{i}") for i in range(again)]
            # Who presses, in order: new fans, and fans already on the line pressing again.
            pressers = fans + returning
            random.Random(7).shuffle(pressers)
            early = [sb.create_member(seed.guild.id, f"early{i}") for i in range(WARM_UP)]
            log = folder / "bot.log"
            async with dropbell_process(sb, url, seed.guild.id, log=log) as process:
                # The same warm-up the floor had, on a drop of its own.
                warm_post, warm_join = await announce(sb, seed, "Warm-up Tee", WARM_UP)
                await measure(
                    lambda i: sb.click(early[i], warm_post, warm_join), WARM_UP, concurrency
                )
                post, join = await announce(sb, seed, "Bench Tee", n)
                if prefill:
                    await fill_line(url, prefill)
                # The returning fans joined before the burst (early places included).
                known: dict[int, int] = {}

                async def first_press(i: int) -> InteractionResult:
                    result = await sb.click(returning[i], post, join, timeout=30)
                    known[returning[i].user.id] = place_in(result.content)
                    return result

                await measure(first_press, again, concurrency)
                answers: list[tuple[int, str]] = []

                def inject(i: int) -> Awaitable[InteractionResult]:
                    async def click() -> InteractionResult:
                        result = await sb.click(pressers[i], post, join, timeout=30)
                        answers.append((pressers[i].user.id, result.content))
                        return result

                    return click()

                sb.reset_request_counts()
                rss_before = rss_mb(process.pid)
                loop_cpu = cpu_seconds(process.pid, thread=process.pid)
                async with contextlib.AsyncExitStack() as stack:
                    if profile:
                        svg = await stack.enter_async_context(profiled(process.pid, "join_burst"))
                        print(f"profiling the bot (pid {process.pid}) into {svg}")
                    joins = await measure(inject, n, concurrency, process.pid)
                loop_cpu = cpu_seconds(process.pid, thread=process.pid) - loop_cpu
                requests = sb.request_counts()
                rss_after = rss_mb(process.pid)
                await asyncio.sleep(4)  # let the coalesced count edit land
                edits = sb.world.messages_by_id[post.id].edits
                # The memory check: the same fans press Join on a second drop, a burst of the
                # same size; what the bot holds after it beyond what it held after the first
                # is growth per join (the first burst also fills discord.py's member cache).
                seconds: list[tuple[Figures, list[str]]] = []
                rss_seconds: list[float] = []
                for burst in range(2, bursts + 1):
                    again_post, again_join = await announce(sb, seed, f"Bench Tee {burst}", n)
                    texts: list[str] = []

                    def press(
                        i: int,
                        message: Message = again_post,
                        join: str = again_join,
                        texts: list[str] = texts,
                    ) -> Awaitable[InteractionResult]:
                        async def click() -> InteractionResult:
                            result = await sb.click(pressers[i], message, join, timeout=30)
                            texts.append(result.content)
                            return result

                        return click()

                    seconds.append((await measure(press, n, concurrency, process.pid), texts))
                    rss_seconds.append(rss_mb(process.pid))
                phases = await further_phases(
                    sb,
                    seed,
                    url,
                    process.pid,
                    pressers,
                    (flat_line, seconds[-1][0] if seconds else joins),
                    (reclick_share, buttons[0]),
                    concurrency,
                )
        already = f", {prefill:,} already on the line" if prefill else ""
        pressing = f" ({again:,} of them pressing again)" if again else ""
        print(
            f"join_burst ({database.label(kind)}): {n:,} presses{pressing}{already}, "
            f"{concurrency} in flight, bot in its own process"
        )
        labels = ["join (dropbell)"] + [f"join, burst {i}" for i in range(2, bursts + 1)]
        labels += [phase.label for phase in phases]
        measured = [joins] + [figures for figures, _ in seconds] + [p.figures for p in phases]
        print_comparison(
            labels,
            measured,
            floor,
            buttons=buttons,
            extra_floors=[("floor (bare + SQLite)", sqlite)],
        )
        loop_us = loop_cpu / n * 1e6
        print(
            f"  bot CPU per join {joins.cpu_us:.0f} us (event loop thread {loop_us:.0f} us, "
            f"other threads {joins.cpu_us - loop_us:.0f} us); bare button "
            f"{buttons[0].cpu_us:.0f} us (CPU ratio {buttons[0].cpu_us / joins.cpu_us:.2f}), "
            f"bare + SQLite {sqlite.cpu_us:.0f} us (CPU ratio {sqlite.cpu_us / joins.cpu_us:.2f})"
        )
        extra_cpu = sqlite.cpu_us - buttons[0].cpu_us
        print(
            f"  the SQLite floor costs the bare bot {extra_cpu:+.0f} us CPU per press over its "
            f"button and runs at {sqlite.per_second / buttons[0].per_second:.2f}x its rate; "
            f"dropbell's join runs at {joins.per_second / sqlite.per_second:.2f}x the SQLite "
            "floor's rate"
            + ("" if kind == database.SQLITE else " (a SQLite floor; dropbell ran on PostgreSQL)")
        )
        print(f"  bot RSS {rss_before:.1f} MB before the burst, {rss_after:.1f} MB after")
        growth = 0.0
        for burst, rss in enumerate(rss_seconds, start=2):
            growth = (rss - rss_after) * 1024 * 1024 / (n * (burst - 1))
            print(
                f"  bot RSS {rss:.1f} MB after burst {burst} ({n * burst:,} joins in all): "
                f"{growth:+,.0f} bytes per join since the first burst"
            )
        new_answers = [text for user, text in answers if user not in known]
        again_right = sum(
            1
            for user, text in answers
            if user in known and "already" in text and place_in(text) == known[user]
        )
        ok = await report(
            joins, floor[0], buttons[0], new_answers, url, n, requests, edits, prefill + again
        )
        for burst, (_, texts) in enumerate(seconds, start=2):
            ok = await check_burst(url, f"Bench Tee {burst}", texts, n) and ok
        if rss_seconds:
            limit = targets.JOIN_GROWTH_BYTES_PER_JOIN
            label = f"memory after the first burst: {growth:+,.0f} bytes per join <= {limit:,}"
            ok = print_checks({label: growth <= limit}) and ok
        for phase in phases:
            ok = print_checks(phase.checks) and ok
        label = f"re-clicks answered 'already' with their place: {again_right}/{again}"
        return (print_checks({label: again_right == again}) if again else True) and ok


def rss_mb(pid: int) -> float:
    """The process's resident memory (Linux), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def report(
    joins: Figures,
    floor: Figures,
    button: Figures,
    answers: list[str],
    url: str,
    n: int,
    requests: Counter[str],
    edits: int,
    before: int = 0,
) -> bool:
    """``before`` fans were on the line before the burst; ``answers`` are the new fans'."""
    new = len(answers)
    places = sorted(int(m.group(1)) for text in answers if (m := PLACE.search(text)))
    ((entries, distinct),) = await database.rows(
        url,
        "SELECT count(*), count(DISTINCT user_id) FROM waitlist_entries "
        "WHERE drop_id = (SELECT id FROM drops WHERE name = 'Bench Tee')",
    )
    callbacks = sum(count for route, count in requests.items() if route.endswith("/callback"))
    others = (
        ", ".join(
            f"{route} x{count}"
            for route, count in requests.items()
            if not route.endswith("/callback")
        )
        or "none"
    )
    ratio = joins.per_second / floor.per_second if floor.per_second else 0.0
    to_button = joins.per_second / button.per_second if button.per_second else 0.0
    checks = {
        f"database holds exactly {before + new:,} entries ({entries:,}, {distinct:,} distinct)": (
            entries == distinct == before + new
        ),
        f"new fans' places are exactly {before + 1:,}..{before + new:,}": (
            places == list(range(before + 1, before + new + 1))
        ),
        # The join's one call is its interaction response; the only others are the
        # announcement's coalesced count edits (one refused by a rate limit is still a request).
        f"interaction responses: {callbacks:,} (one per join); other REST calls: {others}": (
            callbacks == n
            and all(
                route.startswith("PATCH /channels/")
                for route in requests
                if not route.endswith("/callback")
            )
        ),
        f"announcement count edits: {edits} (coalesced, not one per join)": edits < n / 10,
        f"ratio to floor {ratio:.2f} >= {targets.JOIN_RATIO_TO_PING}": (
            ratio >= targets.JOIN_RATIO_TO_PING
        ),
        f"ratio to the button floor {to_button:.2f} >= {targets.JOIN_RATIO_TO_BUTTON}": (
            to_button >= targets.JOIN_RATIO_TO_BUTTON
        ),
        f"p99 {joins.p99_ms:.1f} ms <= {targets.JOIN_P99_MS:g} ms": (
            joins.p99_ms <= targets.JOIN_P99_MS
        ),
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="distinct fans (10,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--floor-n", type=int, default=3_000, help="/ping interactions (3,000)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the bot with py-spy during the burst (bench/profiles/join_burst*)",
    )
    parser.add_argument(
        "--prefill", type=int, default=0, help="fans already on the line before the burst (0)"
    )
    parser.add_argument(
        "--reclick", type=float, default=0.0, help="share of presses by fans already on it (0)"
    )
    parser.add_argument(
        "--bursts",
        type=int,
        default=2,
        help="bursts of N joins, each on a drop of its own, by the same fans; RSS after each "
        "gives the growth per join after the first (2)",
    )
    parser.add_argument(
        "--flat-line",
        type=int,
        default=targets.FLAT_IN_N_LINE,
        help="then the same fans join a drop with this many already waiting; 0: skip "
        f"({targets.FLAT_IN_N_LINE:,})",
    )
    parser.add_argument(
        "--reclick-share",
        type=float,
        default=targets.RECLICK_SHARE,
        help="then a burst where this share of presses is by fans already on the line; 0: skip "
        f"({targets.RECLICK_SHARE})",
    )
    database.add_argument(parser)
    args = parser.parse_args(argv)
    ok = asyncio.run(
        run(
            args.n,
            args.concurrency,
            args.floor_n,
            args.profile,
            args.prefill,
            args.reclick,
            args.bursts,
            args.database,
            args.flat_line,
            args.reclick_share,
        )
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
