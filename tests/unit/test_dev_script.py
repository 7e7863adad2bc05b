"""``./dev``: the one entry point lists what the CLI can do and explains a missing argument."""

from __future__ import annotations

import re
import subprocess

from tests.harness import REPO


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "dev"), *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_cli_command() -> None:
    result = dev("help")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^    (\w+) ", result.stdout, flags=re.MULTILINE)
    assert listed == ["run", "demo", "sandbox", "check", "db", "sync"]


def test_bench_without_a_name_prints_usage_and_exits_2() -> None:
    result = dev("bench")
    assert result.returncode == 2
    runnable = sorted(
        path.stem for path in (REPO / "bench").glob("*.py") if "__main__" in path.read_text()
    )
    assert result.stderr.strip() == f"usage: ./dev bench NAME [args]   (NAME: {' '.join(runnable)})"
