"""The session-wide token guard (tests/token_guard.py) finds the token where a leak would be."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import pytest

from tests.harness import TOKEN
from tests.token_guard import leaks


def report(
    when: Literal["setup", "call", "teardown"], sections: list[tuple[str, str]]
) -> pytest.TestReport:
    return pytest.TestReport("t", ("t", 0, "t"), {}, "passed", None, when, sections=sections)


def test_the_guard_finds_the_token_in_logs_files_and_sandbox_messages(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Not this test's own tmp_path: the guard would rightly fail this test for it.
    folder = tmp_path_factory.mktemp("leak")
    (folder / "bot.log").write_text(f"login with {TOKEN}\n")
    sandbox = SimpleNamespace(world=SimpleNamespace(messages_by_id={1: f"said {TOKEN}"}))
    item = cast(Any, SimpleNamespace(funcargs={"tmp_path": folder, "sandbox": sandbox}))

    logged = report("call", [("Captured log call", f"DEBUG token={TOKEN}")])
    assert leaks(item, logged) == ["the captured log call", "a message or answer in the sandbox"]
    assert leaks(item, report("teardown", [])) == [f"the file {folder / 'bot.log'}"]
    (folder / "bot.log").unlink()
    clean = cast(Any, SimpleNamespace(funcargs={"tmp_path": folder}))
    assert leaks(clean, report("call", [("Captured stderr call", "nothing secret")])) == []
    assert isinstance(folder, Path)
