"""Sampling a process with py-spy while a benchmark measures it: a flame graph and a top table.

``profiled(pid, name)`` attaches py-spy (non-blocking, so the profiled bot is not paused) for
the duration of the block, and writes ``bench/profiles/<name>.svg`` (a flame graph to open in
a browser) and ``bench/profiles/<name>-top.txt``: the 20 functions with the most samples on
the stack (inclusive) and the 20 with the most samples on top (self time).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"
RATE = 250  # samples/s: enough for a 20 s burst, light on a 2-core machine


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed (it comes with the dev extras: ./dev)")
    return found


async def record(pid: int, kind: str, path: Path) -> asyncio.subprocess.Process:
    """py-spy sampling ``pid`` without pausing it, writing ``kind`` output to ``path``."""
    command = ["record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking"]
    return await asyncio.create_subprocess_exec(
        py_spy(),
        *command,
        "--format",
        kind,
        "--output",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


@contextlib.asynccontextmanager
async def profiled(pid: int, name: str) -> AsyncIterator[Path]:
    PROFILES.mkdir(exist_ok=True)
    svg, raw = PROFILES / f"{name}.svg", PROFILES / f"{name}.collapsed"
    recorders = [
        await record(pid, kind, path) for kind, path in (("flamegraph", svg), ("raw", raw))
    ]
    await asyncio.sleep(1.0)  # attached before the measured burst starts
    try:
        yield svg
    finally:
        for recorder in recorders:
            if recorder.returncode is None:
                recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.gather(*(recorder.wait() for recorder in recorders))
    top = PROFILES / f"{name}-top.txt"
    top.write_text(top_table(raw.read_text() if raw.exists() else ""))


def top_table(collapsed: str, rows: int = 20) -> str:
    """The top functions of py-spy's collapsed stacks ("frame;frame;leaf count" per line)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total:,} samples at {RATE}/s"]
    for title, counter in (("on the stack (inclusive)", inclusive), ("on top (self)", own)):
        lines.append(f"\n{'share':>7}  {title}")
        for frame, count in counter.most_common(rows):
            lines.append(f"{count / total:>7.1%}  {frame}" if total else frame)
    return "\n".join(lines) + "\n"
