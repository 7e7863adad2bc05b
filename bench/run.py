"""Run every benchmark and write ``bench/RESULTS.md``: each one's printed figures (values,
targets met or missed, the floors of the same run and the ratios), the machine and the date.

``./dev bench run`` (or ``python -m bench.run``). Each benchmark runs in its own process, one
after the other, so none competes with another for the two cores. Targets live in
``bench/targets.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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


def run_one(name: str) -> tuple[bool, str, float]:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        output, ok = done.stdout.strip(), done.returncode == 0
        if not ok and done.stderr:
            output += "\n" + done.stderr.strip().splitlines()[-1]
    except subprocess.TimeoutExpired:
        output, ok = f"(no result: over {TIMEOUT} s)", False
    return ok, output, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help="which (all)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)
    sections, all_ok = [], True
    for name in args.names:
        print(f"running {name} ...", flush=True)
        ok, output, seconds = run_one(name)
        all_ok &= ok
        print(output, flush=True)
        verdict = "every target met" if ok else "a target MISSED (see the lines marked so)"
        sections.append(f"## {name}\n\n{verdict}; {seconds:.0f} s\n\n```\n{output}\n```\n")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "# Benchmark results\n\n"
        f"Written by `./dev bench run` on {now}; machine: {machine()}.\n"
        "Each benchmark prints its figures beside the floors of the same run: a bare discord.py "
        "bot answering `/ping`, and the same bot answering its own button on a message shaped "
        "like a dropbell announcement. Targets: `bench/targets.py`.\n\n"
    )
    args.out.write_text(header + "\n".join(sections))
    print(f"wrote {args.out}")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
