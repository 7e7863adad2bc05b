"""Run every benchmark and write ``bench/RESULTS.md``: each one's printed figures (values,
targets met or missed, the floors of the same run and the ratios), the machine and the date.

``./dev bench run`` (or ``python -m bench.run``). Each benchmark runs in its own process, one
after the other, so none competes with another for the two cores: every benchmark on SQLite
first, then each one that uses the database again with ``--database postgresql``, each in a
section of its own. One PostgreSQL server serves the whole run: the one
``DROPBELL_TEST_DATABASE`` names, else a throwaway one (``.ci/postgres``) started here and
stopped at the end. ``./dev bench run join_burst`` runs a subset; ``--database sqlite`` or
``--database postgresql`` only one of the two passes. Targets live in ``bench/targets.py`` and
apply to both databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.database import ADMIN_URL_VARIABLE, LABELS, POSTGRESQL, SQLITE, postgres_server

BENCH_DIR = Path(__file__).resolve().parent
BENCHMARKS = (
    "floor",
    "join_burst",
    "about_burst",
    "schedule_precision",
    "reminder_fanout",
    "link_pool",
    "claim_storm",
    "poll_burst",
    "insights_scale",
    "scale_out",
)
# Those that run on a database (``--database``): the bot's, or link_pool's link pool. about_burst
# answers without it and floor has no dropbell database at all: their figures stand for both.
# scale_out runs on PostgreSQL by itself (its join burst on both).
DATABASE_BENCHMARKS = (
    "join_burst",
    "schedule_precision",
    "reminder_fanout",
    "link_pool",
    "claim_storm",
    "poll_burst",
    "insights_scale",
)
NEEDS_POSTGRESQL = ("scale_out",)
TIMEOUT = 1200


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def run_one(
    name: str, kind: str | None, env: Mapping[str, str] | None = None
) -> tuple[bool, str, float]:
    """One benchmark in its own process (``kind``: its ``--database``, None for none)."""
    started = time.perf_counter()
    database = ["--database", kind] if kind is not None else []
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *database],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env=env,
        )
        output, ok = done.stdout.strip(), done.returncode == 0
        if not ok and done.stderr:
            output += "\n" + done.stderr.strip().splitlines()[-1]
    except subprocess.TimeoutExpired:
        output, ok = f"(no result: over {TIMEOUT} s)", False
    return ok, output, time.perf_counter() - started


def plan(names: Sequence[str], database: str | None) -> list[tuple[str, str | None]]:
    """(benchmark, its --database or None) in the order they run: the SQLite pass (every
    benchmark), then the PostgreSQL pass (those using the database); ``database`` keeps one."""
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"no benchmark {unknown[0]!r}; there are: {', '.join(BENCHMARKS)}")
    first: list[tuple[str, str | None]] = [
        (name, SQLITE if name in DATABASE_BENCHMARKS else None) for name in names
    ]
    second: list[tuple[str, str | None]] = [
        (name, POSTGRESQL) for name in names if name in DATABASE_BENCHMARKS
    ]
    if database == POSTGRESQL:
        if not second:
            raise SystemExit(
                f"none of {', '.join(names)} uses the database, so none runs on PostgreSQL; "
                "those that do: "
                f"{', '.join(DATABASE_BENCHMARKS)}"
            )
        return second
    return first if database == SQLITE else first + second


def title(name: str, kind: str | None) -> str:
    return f"{name} ({LABELS[kind]})" if kind is not None else name


@contextmanager
def postgresql_for_run(needed: bool) -> Iterator[dict[str, str]]:
    """The children's environment: naming one PostgreSQL server for the whole run when any
    child needs one (``DROPBELL_TEST_DATABASE``'s, else a throwaway one started here)."""
    env = dict(os.environ)
    if not needed or env.get(ADMIN_URL_VARIABLE, "").strip():
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="dropbell-bench-run-pg-") as folder:
        started = postgres_server("start", folder)
        try:
            env[ADMIN_URL_VARIABLE] = started.stdout.strip().splitlines()[-1]
            print(f"PostgreSQL for the run: {env[ADMIN_URL_VARIABLE]}", flush=True)
            yield env
        finally:
            postgres_server("stop", folder)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"which (all: {', '.join(BENCHMARKS)})")
    parser.add_argument(
        "--database",
        choices=(SQLITE, POSTGRESQL),
        default=None,
        help="only the SQLite pass, or only the PostgreSQL pass (both)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)
    runs = plan(args.names or BENCHMARKS, args.database)
    needed = any(kind == POSTGRESQL or name in NEEDS_POSTGRESQL for name, kind in runs)
    sections, all_ok = [], True
    with postgresql_for_run(needed) as env:
        for name, kind in runs:
            print(f"running {title(name, kind)} ...", flush=True)
            ok, output, seconds = run_one(name, kind, env)
            all_ok &= ok
            print(output, flush=True)
            verdict = "every target met" if ok else "a target MISSED (see the lines marked so)"
            sections.append(
                f"## {title(name, kind)}\n\n{verdict}; {seconds:.0f} s\n\n```\n{output}\n```\n"
            )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "# Benchmark results\n\n"
        f"Written by `./dev bench run` on {now}; machine: {machine()}.\n"
        "Each benchmark prints its figures beside the floors of the same run: a bare discord.py "
        "bot answering `/ping`, and the same bot answering its own button on a message shaped "
        "like a dropbell announcement. Targets: `bench/targets.py`, the same on both "
        "databases.\n\n"
        "The benchmarks whose bot uses its database run twice: on a SQLite file (sections "
        "marked SQLite), then on PostgreSQL (marked PostgreSQL; a throwaway server from "
        "`.ci/postgres`, run with fsync and synchronous_commit off, unless "
        "`DROPBELL_TEST_DATABASE` named one). floor and about_burst use no dropbell database, "
        "so their figures stand for both; scale_out runs on PostgreSQL and its join "
        "burst on both.\n\n"
    )
    args.out.write_text(header + "\n".join(sections))
    print(f"wrote {args.out}")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
