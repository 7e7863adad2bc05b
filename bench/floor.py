"""The framework floors: how fast a bare discord.py bot answers through the sandbox.

``python -m bench.floor --n 3000`` starts the sandbox here, a bare bot in its own process, and
injects N interactions at 1 and at 32 in flight: ``/ping`` (the command floor), then presses of
the bot's own persistent button on a message shaped like dropbell's announcement (the button
floor). It prints interactions/s and p50/p99 latency (injection to callback). Benchmarks reuse
``measure`` and ``print_comparison`` to put their figures beside the floors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from sandbox import InteractionResult, Member, Message, Sandbox, seed_demo_world
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
    # The answering bot's CPU time (all its threads, user + system) per interaction, when its
    # pid was given: unlike the rate, it hardly moves when others load the shared machine.
    cpu_us: float = float("nan")


def cpu_seconds(pid: int, *, thread: int | None = None) -> float:
    """CPU time (user + system) used so far by process ``pid`` (or only by its thread
    ``thread``: the event loop's is ``pid`` itself), from /proc; NaN if it is gone."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        with open(path) as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    # Fields 14 and 15 of stat (utime, stime), counted after the ")" closing the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(inject: Inject, n: int, concurrency: int, pid: int | None = None) -> Figures:
    """Run ``inject(i)`` for i in range(n) with ``concurrency`` in flight.

    Latency is the sandbox's own measure: from dispatching the interaction to receiving its
    callback, so it does not include the caller's bookkeeping. With ``pid`` (the answering
    bot's process), the figures include its CPU time per interaction.
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

    # The sandbox stands in for Discord, which does not pause for Python's garbage collector:
    # a full collection of the sandbox's heap (its world grows with every message) would stall
    # every interaction in flight for 100 ms or more and be counted against the bot.
    gc.collect()
    gc.disable()
    try:
        cpu_before = cpu_seconds(pid) if pid is not None else float("nan")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before if pid is not None else float("nan")
    finally:
        gc.enable()
    latencies.sort()
    return Figures(
        n=n,
        concurrency=concurrency,
        seconds=seconds,
        per_second=len(latencies) / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=errors,
        cpu_us=cpu / n * 1e6 if n else float("nan"),
    )


@contextlib.asynccontextmanager
async def ping_bot_process(
    sb: Sandbox, *, timeout: float = 30.0, database: str | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A bare discord.py ping bot in its own process, connected to ``sb`` (with ``database``,
    it answers the SQLite floor's joins too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PROJECT_ROOT, env.get("PYTHONPATH")]))
    extra = ["--database", database] if database else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ping_bot",
        "--api-base", sb.api_base, "--gateway", sb.gateway_url, *extra,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await sb.wait_for_bot(timeout=timeout)
        if not any(c["name"] == "ping" for c in sb.commands()):
            raise RuntimeError("the ping bot connected without syncing /ping")
        yield proc
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


async def floor_figures(sb: Sandbox, n: int, concurrency: int, pid: int | None = None) -> Figures:
    """Figures of /ping against whatever bot is connected to ``sb`` (the ping bot, normally;
    ``pid``: its process, for its CPU time)."""
    guild = next(iter(sb.world.guilds.values()))
    member = next(m for m in guild.members.values() if not m.user.bot)

    def inject(i: int) -> Awaitable[InteractionResult]:
        return sb.slash(member, "ping", timeout=30)

    return await measure(inject, n, concurrency, pid)


def floor_message(sb: Sandbox, channel_id: int, first: str = "press") -> Message:
    """A message shaped like a dropbell announcement (embed with fields and an image, two
    persistent buttons), posted as the bot, whose first button (``floor:{first}:1``) the floor
    bot answers."""
    embed = {
        "title": "Night Moth Tee",
        "description": "Screen-printed by hand in Leipzig, 150 pieces, glow-in-the-dark ink.",
        "color": 0x5865F2,
        "fields": [
            {"name": "Opens", "value": "<t:1924000000:F> (<t:1924000000:R>)", "inline": False},
            {"name": "Stock", "value": "150", "inline": True},
            {"name": "Waitlist", "value": "0 waiting", "inline": True},
            {
                "name": "How links are given",
                "value": "Links go out in waitlist order: first to join, first served.",
                "inline": False,
            },
        ],
        "image": {"url": "attachment://drop.png"},
        "footer": {"text": "dropbell · drop 1 · 2030-12-20 18:00 Europe/Berlin"},
    }
    buttons = [
        {"type": 2, "style": style, "label": label, "custom_id": f"floor:{action}:1"}
        for action, label, style in ((first, "Join waitlist", 3), ("remind", "Remind me", 2))
    ]
    return sb.post_message(
        channel_id, embeds=[embed], components=[{"type": 1, "components": buttons}]
    )


async def button_floor_figures(
    sb: Sandbox, n: int, concurrency: int, pid: int | None = None
) -> Figures:
    """Figures of presses of the floor bot's own button on an announcement-shaped message."""
    guild = next(iter(sb.world.guilds.values()))
    members = [m for m in guild.members.values() if not m.user.bot]
    channel = next(c for c in sb.world.channels.values() if c.guild_id == guild.id)
    message = floor_message(sb, channel.id)

    def inject(i: int) -> Awaitable[InteractionResult]:
        return sb.click(members[i % len(members)], message, "floor:press:1", timeout=30)

    return await measure(inject, n, concurrency, pid)


async def sqlite_floor_figures(
    sb: Sandbox, members: Sequence[Member], concurrency: int, pid: int | None = None
) -> Figures:
    """Figures of the SQLite floor: each of ``members`` presses the floor bot's join button
    once (on an announcement-shaped message), answered with their place after the commit."""
    channel = next(c for c in sb.world.channels.values() if c.guild_id == members[0].guild_id)
    message = floor_message(sb, channel.id, first="join")

    def inject(i: int) -> Awaitable[InteractionResult]:
        return sb.click(members[i], message, "floor:join:1", timeout=30)

    return await measure(inject, len(members), concurrency, pid)


def format_figures(label: str, f: Figures) -> str:
    return (
        f"{label:<24} {f.concurrency:>8} {f.n:>7} {f.per_second:>10.0f} "
        f"{f.p50_ms:>9.2f} {f.p99_ms:>9.2f} {f.errors:>6} {cpu_text(f.cpu_us):>7}"
    )


def cpu_text(cpu_us: float) -> str:
    return "" if math.isnan(cpu_us) else f"{cpu_us:.0f}"


HEADER = (
    f"{'measured':<24} {'inflight':>8} {'n':>7} {'inter/s':>10} {'p50 ms':>9} {'p99 ms':>9} "
    f"{'errors':>6} {'cpu us':>7}"
)


def print_comparison(
    label: str | Sequence[str],
    measured: Sequence[Figures],
    floor: Sequence[Figures],
    *,
    buttons: Sequence[Figures] = (),
    extra_floors: Sequence[tuple[str, Figures]] = (),
    file: TextIO | None = None,
) -> None:
    """Print the things measured (one label each, or one for all), then the floors of their
    concurrency, with the ratios: ``x floor`` to /ping, ``x button`` to the bare bot's own
    button. ``extra_floors`` are further floors (a label each), printed with their ratios."""
    out = file if file is not None else sys.stdout
    labels = [label] * len(measured) if isinstance(label, str) else list(label)
    by_conc = {f.concurrency: f for f in floor}
    by_button = {f.concurrency: f for f in buttons}

    def ratio(fig: Figures, base: Figures | None) -> str:
        return f"{fig.per_second / base.per_second:>8.2f}" if base and base.per_second else ""

    print(HEADER + f" {'x floor':>8} {'x button':>8}", file=out)
    for name, fig in zip(labels, measured, strict=True):
        base, button = by_conc.get(fig.concurrency), by_button.get(fig.concurrency)
        print(format_figures(name, fig), ratio(fig, base), ratio(fig, button), file=out)
    for concurrency in dict.fromkeys(fig.concurrency for fig in measured):
        base, button = by_conc.get(concurrency), by_button.get(concurrency)
        if base is not None:
            print(format_figures("floor (bare /ping)", base), f"{1.0:>8.2f}", file=out)
        if button is not None:
            print(format_figures("floor (bare button)", button), ratio(button, base), file=out)
        for name, fig in extra_floors:
            if fig.concurrency == concurrency:
                print(format_figures(name, fig), ratio(fig, base), ratio(fig, button), file=out)


def print_checks(checks: dict[str, bool]) -> bool:
    """Print each target as [ok] or [MISSED]; True if every one was met."""
    for label, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
    return all(checks.values())


def print_floor(floor: Sequence[Figures]) -> None:
    print(HEADER)
    for fig in floor:
        print(format_figures("floor (bare /ping)", fig))


async def run_floor(
    n: int, concurrencies: Sequence[int], warmup: int
) -> tuple[list[Figures], list[Figures]]:
    async with Sandbox() as sb:
        seed_demo_world(sb, fans=5)
        async with ping_bot_process(sb) as bot:
            if warmup:
                await floor_figures(sb, warmup, max(concurrencies))
                await button_floor_figures(sb, warmup, max(concurrencies))
            pings = [await floor_figures(sb, n, c, bot.pid) for c in concurrencies]
            presses = [await button_floor_figures(sb, n, c, bot.pid) for c in concurrencies]
            return pings, presses


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the bare discord.py floors.")
    parser.add_argument("--n", type=int, default=3000, help="interactions per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    pings, presses = asyncio.run(run_floor(args.n, args.concurrency, args.warmup))
    print(HEADER + f" {'x floor':>8}")
    for ping, press in zip(pings, presses, strict=True):
        print(format_figures("floor (bare /ping)", ping), f"{1.0:>8.2f}")
        print(
            format_figures("floor (bare button)", press),
            f"{press.per_second / ping.per_second:>8.2f}" if ping.per_second else "",
        )


if __name__ == "__main__":
    main()
