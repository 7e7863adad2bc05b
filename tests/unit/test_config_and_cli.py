"""Config loading and the CLI's answers to bad input (real files, real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config_loading import ConfigError, load_settings
from tests.databases import database_url
from tests.harness import REPO

EXAMPLE = REPO / "config.example.toml"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DROPBELL_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("DROPBELL_")]:
        monkeypatch.delenv(key)
    settings = load_settings(EXAMPLE)
    assert settings.discord.is_discord
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert settings.web.port == 8080


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPBELL_DISCORD__TOKEN", "from-env")
    monkeypatch.setenv("DROPBELL_WEB__PORT", "9999")
    settings = load_settings(EXAMPLE)
    assert settings.discord.token.get_secret_value() == "from-env"
    assert settings.web.port == 9999
    assert settings.discord.api_base == "https://discord.com/api/v10"  # still from the file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[discord]\napi_base = 'https://x'\n", "discord.token is missing"),
        ("[discord]\ntoken = '  '\n", "discord.token: the token is empty"),
        ("[discord]\ntoken = 't'\napi_base = 'ftp://nope'\n", "not a valid http or https URL"),
        ("[discord]\ntoken = 't'\ngateway_url = 'https://x'\n", "not a valid ws or wss URL"),
        ("[discord]\ntoken = 't'\n[shops.main]\nkind = 'woo'\n", "kind 'woo' is not a shop kind"),
        ("[discord]\ntoken = 't'\n[database]\nurl = 'mysql://x'\n", "is not supported"),
        ("[discord]\ntoken = 't'\ntokn = 'x'\n", "discord.tokn is not a known setting"),
        ("[discord\ntoken = 't'\n", "is not valid TOML"),
        (
            "[discord]\ntoken = 't'\nshard_count = 2\nshard_ids = [0, 2]\n",
            "shard_ids must be distinct numbers from 0 to 1 (shard_count is 2); got [0, 2]",
        ),
        ("[discord]\ntoken = 't'\nshard_ids = [0]\n", "shard_ids needs shard_count"),
        ("[discord]\ntoken = 't'\nshard_count = 0\n", "discord.shard_count"),
    ],
)
def test_each_invalid_config_has_its_own_message(
    tmp_path: Path, text: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("DROPBELL_")]:
        monkeypatch.delenv(key)
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_shards_default_to_all_of_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPBELL_DISCORD__SHARD_COUNT", "3")
    assert load_settings(EXAMPLE).discord.shards == [0, 1, 2]
    monkeypatch.setenv("DROPBELL_DISCORD__SHARD_IDS", "[2]")
    assert load_settings(EXAMPLE).discord.shards == [2]
    monkeypatch.delenv("DROPBELL_DISCORD__SHARD_COUNT")
    monkeypatch.delenv("DROPBELL_DISCORD__SHARD_IDS")
    assert load_settings(EXAMPLE).discord.shards is None


def test_check_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[discord]\napi_base = 'ftp://x'\n[shops.a]\nkind = 'woo'\n")
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("config: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_check_unreadable_file(tmp_path: Path) -> None:
    result = run_cli("check", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "Cannot read the config file" in result.stderr


def test_check_valid_config_summarises_without_the_token(tmp_path: Path) -> None:
    # Shaped like a Discord token: `check` refuses one that is not.
    secret = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GsUpEr.super-secret-token-value-0123456789"
    result = run_cli("check", "--config", str(EXAMPLE), env={"DROPBELL_DISCORD__TOKEN": secret})
    assert result.returncode == 0
    assert result.stdout.startswith("config OK:")
    assert secret not in result.stdout + result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = database_url(tmp_path / "cli.db")
    env = {"DROPBELL_DISCORD__TOKEN": "t", "DROPBELL_DATABASE__URL": url}
    result = run_cli("db", "upgrade", "--config", os.devnull, env=env)
    assert result.returncode == 0, result.stderr
    assert "is at migration" in result.stdout


@pytest.mark.parametrize(
    "command", [[], ["run"], ["demo"], ["sandbox"], ["check"], ["db", "upgrade"], ["sync"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: dropbell" in result.stdout
