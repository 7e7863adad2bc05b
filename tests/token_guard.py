"""A session-wide guard: no test may leave the bot token in what it captured (log records,
stdout, stderr), in any file under its tmp_path (log files, databases, exports), or in any
message or answer the sandbox holds. Every test runs the bot with the same known token
(tests.harness.TOKEN), so the whole suite is the search."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import TOKEN

SECRETS = (TOKEN,)
# Big binaries (a database of a benchmark) are not worth reading whole; a token is short text.
LARGEST_FILE = 16 * 1024 * 1024


def files_with_secret(root: Path) -> Iterator[str]:
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size <= LARGEST_FILE:
            data = path.read_bytes()
            if any(secret.encode() in data for secret in SECRETS):
                yield str(path)


def sandbox_texts(sandbox: Any) -> Iterator[str]:
    world = getattr(sandbox, "world", None)
    for message in getattr(world, "messages_by_id", {}).values():
        yield repr(message)


def leaks(item: pytest.Item, report: pytest.TestReport) -> list[str]:
    found = []
    for name, text in report.sections:
        if any(secret in text for secret in SECRETS):
            found.append(f"the {name.lower()}")
    funcargs = getattr(item, "funcargs", {})
    tmp_path = funcargs.get("tmp_path")
    if report.when == "teardown" and isinstance(tmp_path, Path) and tmp_path.exists():
        found += [f"the file {path}" for path in files_with_secret(tmp_path)]
    sandbox = funcargs.get("sandbox") or funcargs.get("sb")
    texts = sandbox_texts(sandbox) if report.when == "call" and sandbox is not None else ()
    if any(secret in text for text in texts for secret in SECRETS):
        found.append("a message or answer in the sandbox")
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed or report.skipped:
        return
    found = leaks(item, report)
    if found:
        report.outcome = "failed"
        report.longrepr = f"the bot token leaked into {', '.join(found)}"
