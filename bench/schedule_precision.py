"""schedule_precision: 200 scheduled posts due within 10 s; how late does each one leave?

``python -m bench.schedule_precision`` writes N announcement rows (due evenly over 10 s, across
50 channels: Discord lets a bot post 5 messages per 5 s in one channel, and the sandbox holds
it to that, so 200 posts in 10 s need at least 20 channels) into a fresh database, starts
dropbell in its own process against the sandbox, and measures each post's lateness: the
sandbox's receive time of the message minus its due time. Prints p50/p99/max beside the
framework floor (a bare discord.py bot's /ping latency in the same run) and the ratio; then
checks every row was posted exactly once. Target: p99 <= 250 ms. ``--database postgresql``
runs it on PostgreSQL (bench/database.py).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from bench import database, targets
from bench.bot_process import dropbell_process
from bench.floor import Figures, floor_figures, ping_bot_process, print_checks, print_floor
from sandbox import Sandbox, seed_demo_world
from services.localtime import utcnow
from services.stats import percentile
from storage.engine import Database
from storage.migrate import upgrade
from storage.schedule import SendStore

MARKER = re.compile(r"dropbell · ref S(\d+)\b")
START_DELAY = 6.0  # seconds for the bot process to start before the first post is due (default)


async def prepare_database(url: str) -> Database:
    """The empty database at ``url``, migrated as the bot would at its start."""
    migrated = Database(url)
    await upgrade(migrated)
    return migrated


async def write_posts(
    url: str, guild_id: int, channel_ids: list[int], n: int, first: datetime, window: float
) -> dict[int, datetime]:
    """N announcements due evenly over ``window`` seconds from ``first``: id -> due time."""
    db = await prepare_database(url)
    store = SendStore(db)
    due: dict[int, datetime] = {}
    try:
        for i in range(n):
            at = first + timedelta(seconds=window * i / max(1, n - 1))
            row = await store.insert(
                guild_id=guild_id,
                kind="announcement",
                channel_id=channel_ids[i % len(channel_ids)],
                due_at=at,
                message=f"Bench post {i + 1} of {n}",
                timezone="UTC",
            )
            due[row.id] = at
    finally:
        await db.dispose()
    return due


async def measure_floor(sb: Sandbox, n: int) -> Figures:
    async with ping_bot_process(sb):
        await floor_figures(sb, min(200, n), 1)  # warm-up
        return await floor_figures(sb, n, 1)


async def run(
    n: int,
    window: float,
    channels: int,
    floor_n: int,
    kind: str = database.SQLITE,
    start_delay: float = START_DELAY,
) -> bool:
    async with database.workspace(kind) as (folder, url):
        async with Sandbox() as sb:
            seed = seed_demo_world(sb, fans=1)
            floor = await measure_floor(sb, floor_n)
            targets = [seed.drops] + [
                sb.create_channel(seed.guild.id, f"news-{i}") for i in range(channels - 1)
            ]
            ids = [channel.id for channel in targets]
            # Migrated before the clock starts: START_DELAY is the bot's to start in (the
            # migrations take longer on PostgreSQL).
            await (await prepare_database(url)).dispose()
            first = utcnow() + timedelta(seconds=start_delay)
            due = await write_posts(url, seed.guild.id, ids, n, first, window)
            log = folder / "bot.log"
            async with dropbell_process(sb, url, seed.guild.id, log=log):
                ready_at = utcnow()
                deadline = time.monotonic() + start_delay + window + 15
                while time.monotonic() < deadline:
                    if sum(len(markers(sb, c)) for c in ids) >= n:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # anything posted twice would show up now
                posted = {
                    int(m.group(1)): message.created_at
                    for c in ids
                    for message in sb.messages(c)
                    if (m := MARKER.search(message.content))
                }
                counts = Counter(i for c in ids for i in markers(sb, c))
        states = dict(
            await database.rows(url, "SELECT state, count(*) FROM scheduled_sends GROUP BY state")
        )
        print(
            f"schedule_precision ({database.label(kind)}): {n} posts due within {window:g} s, "
            "bot in its own process"
        )
        return report(n, due, posted, counts, floor, ready_at, first, states)


def markers(sb: Sandbox, channel_id: int) -> list[int]:
    return [
        int(m.group(1))
        for message in sb.messages(channel_id)
        if (m := MARKER.search(message.content))
    ]


def report(
    n: int,
    due: dict[int, datetime],
    posted: dict[int, datetime],
    counts: Counter[int],
    floor: Figures,
    ready_at: datetime,
    first: datetime,
    states: dict[str, int],
) -> bool:
    lateness = [(posted[i] - due[i]).total_seconds() * 1000 for i in due if i in posted]
    p50, p99, worst = percentile(lateness, 0.5), percentile(lateness, 0.99), max(lateness or [0])
    print(
        f"  bot ready {(ready_at - first).total_seconds():+.1f} s from the first due time "
        "(negative: before it)"
    )
    print_floor([floor])
    print(
        f"{'lateness':<24} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'x floor p99':>12}"
    )
    ratio = p99 / floor.p99_ms if floor.p99_ms else float("nan")
    print(f"{'post lateness (dropbell)':<24} {len(lateness):>7} {p50:>9.1f} {p99:>9.1f} "
          f"{worst:>9.1f} {ratio:>12.1f}")  # fmt: skip
    duplicates = sum(1 for count in counts.values() if count > 1)
    checks = {
        f"every post made exactly once ({len(counts)}/{n}, {duplicates} duplicated)": (
            len(counts) == n and duplicates == 0
        ),
        f"rows recorded sent: {states}": states.get("sent", 0) == n,
        f"p99 lateness {p99:.1f} ms <= {targets.SCHEDULE_P99_MS:g} ms": (
            p99 <= targets.SCHEDULE_P99_MS
        ),
        f"no post early (min {min(lateness or [0]):.1f} ms)": min(lateness or [0]) >= -5,
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="posts (200)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds they fall in (10)")
    parser.add_argument("--channels", type=int, default=50, help="channels they go to (50)")
    parser.add_argument("--floor-n", type=int, default=1000, help="/ping interactions (1,000)")
    parser.add_argument(
        "--start-delay",
        type=float,
        default=START_DELAY,
        help="seconds from launching the bot to the first due time (6); a post due before the "
        "bot is ready measures its start, not the scheduler",
    )
    database.add_argument(parser)
    args = parser.parse_args(argv)
    ok = asyncio.run(
        run(args.n, args.window, args.channels, args.floor_n, args.database, args.start_delay)
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
