"""The framework floor: how fast a bare discord.py bot answers /ping through the sandbox.

``python -m bench.floor --n 3000`` starts the sandbox here, a bare ping bot in its own process,
injects N /ping interactions at 1 and at 32 in flight, and prints interactions/s and p50/p99
latency (injection to callback). Later benchmarks reuse ``measure`` and ``print_comparison``
to put their own figures beside the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from sandbox import InteractionResult, Sandbox, seed_demo_world
from services.stats import percentile

Inject = Callable[[int], Awaitable[InteractionResult]]
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Figures:
    n: int
    concurrency: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


async def measure(inject: Inject, n: int, concurrency: int) -> Figures:
    """Run ``inject(i)`` for i in range(n) with ``concurrency`` in flight.

    Latency is the sandbox's own measure: from dispatching the interaction to receiving its
    callback, so it does not include the caller's bookkeeping.
    """
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            try:
                result = await inject(i)
            except Exception:
                errors += 1
            else:
                latencies.append(result.latency)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return Figures(
        n=n,
        concurrency=concurrency,
        seconds=seconds,
        per_second=len(latencies) / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=errors,
    )


@contextlib.asynccontextmanager
async def ping_bot_process(sb: Sandbox, *, timeout: float = 30.0) -> AsyncIterator[None]:
    """A bare discord.py ping bot in its own process, connected to ``sb``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PROJECT_ROOT, env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ping_bot",
        "--api-base", sb.api_base, "--gateway", sb.gateway_url,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await sb.wait_for_bot(timeout=timeout)
        if not any(c["name"] == "ping" for c in sb.commands()):
            raise RuntimeError("the ping bot connected without syncing /ping")
        yield
    finally:
        await end_process(proc, grace=5)


async def end_process(proc: asyncio.subprocess.Process, *, grace: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds."""
    if proc.returncode is None:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def floor_figures(sb: Sandbox, n: int, concurrency: int) -> Figures:
    """Figures of /ping against whatever bot is connected to ``sb`` (the ping bot, normally)."""
    guild = next(iter(sb.world.guilds.values()))
    member = next(m for m in guild.members.values() if not m.user.bot)

    def inject(i: int) -> Awaitable[InteractionResult]:
        return sb.slash(member, "ping", timeout=30)

    return await measure(inject, n, concurrency)


def format_figures(label: str, f: Figures) -> str:
    return (
        f"{label:<24} {f.concurrency:>8} {f.n:>7} {f.per_second:>10.0f} "
        f"{f.p50_ms:>9.2f} {f.p99_ms:>9.2f} {f.errors:>6}"
    )


HEADER = (
    f"{'measured':<24} {'inflight':>8} {'n':>7} {'inter/s':>10} {'p50 ms':>9} {'p99 ms':>9} "
    f"{'errors':>6}"
)


def print_comparison(
    label: str, measured: Sequence[Figures], floor: Sequence[Figures], *, file: TextIO | None = None
) -> None:
    """Print the thing measured beside the floor, matched by concurrency, with the ratio."""
    out = file if file is not None else sys.stdout
    by_conc = {f.concurrency: f for f in floor}
    print(HEADER + f" {'x floor':>8}", file=out)
    for fig in measured:
        base = by_conc.get(fig.concurrency)
        ratio = f"{fig.per_second / base.per_second:>8.2f}" if base and base.per_second else ""
        print(format_figures(label, fig) + " " + ratio, file=out)
        if base is not None:
            line = format_figures("floor (bare /ping)", base)
            print(line + f" {1.0:>8.2f}", file=out)


def print_checks(checks: dict[str, bool]) -> bool:
    """Print each target as [ok] or [MISSED]; True if every one was met."""
    for label, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
    return all(checks.values())


def print_floor(floor: Sequence[Figures]) -> None:
    print(HEADER)
    for fig in floor:
        print(format_figures("floor (bare /ping)", fig))


async def run_floor(n: int, concurrencies: Sequence[int], warmup: int) -> list[Figures]:
    async with Sandbox() as sb:
        seed_demo_world(sb, fans=5)
        async with ping_bot_process(sb):
            if warmup:
                await floor_figures(sb, warmup, max(concurrencies))
            return [await floor_figures(sb, n, c) for c in concurrencies]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the bare discord.py /ping floor.")
    parser.add_argument("--n", type=int, default=3000, help="interactions per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    figures = asyncio.run(run_floor(args.n, args.concurrency, args.warmup))
    print_floor(figures)


if __name__ == "__main__":
    main()
