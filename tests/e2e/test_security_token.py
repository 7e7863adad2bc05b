"""The bot token never reaches a log line, an error message or an answer: on the error path
(a command failing with the token in its exception) and when the CLI fails on a refused token.
The rest of the suite is searched for it by tests/token_guard.py."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from bot.logs import setup_logging
from sandbox import Sandbox
from tests.harness import REPO, TOKEN, BotProcess, Community, InProcessBot


@pytest.fixture
def production_logs() -> Iterator[io.StringIO]:
    """What `dropbell run` writes to stderr (one handler that redacts the token), at DEBUG so
    every line discord.py can write is searched; pytest's own handlers come back after."""
    root = logging.getLogger()
    names = ("discord.http", "alembic.runtime.plugins", "aiosqlite")
    loggers = [logging.getLogger(name) for name in names]
    saved = root.handlers[:], root.level, [logger.level for logger in loggers]
    setup_logging(logging.DEBUG, secrets=[TOKEN])
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # every cursor call: only noise
    written = io.StringIO()
    cast(logging.StreamHandler[Any], root.handlers[0]).setStream(written)
    try:
        yield written
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for logger, old in zip(loggers, levels, strict=True):
            logger.setLevel(old)


async def test_a_failure_quoting_the_token_is_logged_redacted(
    sandbox: Sandbox,
    community: Community,
    bot_runner: InProcessBot,
    production_logs: io.StringIO,
) -> None:
    await bot_runner.start(extra_extensions=["tests.support.leaky"])
    answer = await sandbox.slash(community.fans[0], "leak")
    match = re.search(r"\(error ([0-9a-f]{8})\)", answer.content)
    assert match and TOKEN not in answer.content, answer.content
    await bot_runner.stop()
    logged = production_logs.getvalue()
    # The failure was logged, with its traceback, and the token in it replaced.
    assert f"error {match.group(1)}" in logged
    assert "Traceback" in logged and "'Authorization': 'Bot [redacted]'" in logged
    assert "logging in using static token" in logged  # DEBUG and INFO lines were searched too
    assert TOKEN not in logged


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "-v", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_cli_failures_never_print_the_token(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    sandbox.accept_tokens("the-one-real-token")
    env = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "log").env
    broken = tmp_path / "broken.toml"
    # A config with the token beside a mistake, and a database URL carrying a password.
    broken.write_text(
        f'[discord]\ntoken = "{TOKEN}"\ndev_guild_id = "{TOKEN}"\n'
        f'[database]\nurl = "postgres://dropbell:{TOKEN}@localhost/dropbell"\n'
    )
    bare = {k: v for k, v in env.items() if not k.startswith("DROPBELL_")}
    # Off the loop: the sandbox shares it and must answer the children.
    results = await asyncio.gather(
        asyncio.to_thread(cli, env, "run", "--config", os.devnull),
        asyncio.to_thread(cli, bare, "check", "--config", str(broken)),
    )
    for result in results:
        assert result.returncode != 0, result
        assert result.stderr.strip(), result
        assert TOKEN not in result.stdout + result.stderr, result.args
    assert "refused the token" in results[0].stderr
    assert "postgres:// is not supported" in results[1].stderr
    broken.unlink()  # written by this test: the session guard searches what is left
