"""about_burst: N `/dropbell about` (no database) at 32 in flight, bot in its own process.

``python -m bench.about_burst`` measures dropbell answering a command that touches nothing but
the bot itself, beside the bare /ping floor of the same run: the cost of dropbell's own
command machinery (the tree's checks, the error path, the cogs), without the database.
Target: >= 0.9x the /ping floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path

from bench import targets
from bench.bot_process import dropbell_process
from bench.floor import floor_figures, measure, ping_bot_process, print_checks, print_comparison
from bench.profile import profiled
from sandbox import InteractionResult, Sandbox, seed_demo_world

WARM_UP = 300


async def run(n: int, concurrency: int, profile: bool = False) -> bool:
    with tempfile.TemporaryDirectory(prefix="dropbell-bench-") as folder:
        async with Sandbox() as sb:
            seed = seed_demo_world(sb, fans=5)
            async with ping_bot_process(sb) as bot:
                await floor_figures(sb, WARM_UP, concurrency)
                floor = await floor_figures(sb, n, concurrency, bot.pid)
            # The bot needs a database to start; /dropbell about never touches it.
            database = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            log = Path(folder) / "bot.log"
            async with dropbell_process(sb, database, seed.guild.id, log=log) as process:
                fan = seed.fans[0]

                def about(i: int) -> Awaitable[InteractionResult]:
                    return sb.slash(fan, "dropbell about", timeout=30)

                await measure(about, WARM_UP, concurrency)
                async with contextlib.AsyncExitStack() as stack:
                    if profile:
                        await stack.enter_async_context(profiled(process.pid, "about_burst"))
                    answers = await measure(about, n, concurrency, process.pid)
    print(f"about_burst: {n:,} /dropbell about, {concurrency} in flight, bot in its own process")
    print_comparison("about (dropbell)", [answers], [floor])
    ratio = answers.per_second / floor.per_second if floor.per_second else 0.0
    return print_checks(
        {
            f"ratio to /ping floor {ratio:.2f} >= {targets.ABOUT_RATIO_TO_PING}": (
                ratio >= targets.ABOUT_RATIO_TO_PING
            ),
            f"errors: {answers.errors}": answers.errors == 0,
        }
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="commands (3,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--profile", action="store_true", help="py-spy into bench/profiles/")
    args = parser.parse_args(argv)
    sys.exit(0 if asyncio.run(run(args.n, args.concurrency, args.profile)) else 1)


if __name__ == "__main__":
    main()
