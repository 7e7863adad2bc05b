"""Every cog module loads, has setup(), and no two extensions define the same command."""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from discord import AppCommandType
from discord.app_commands import Command, ContextMenu, Group

from bot.bot import Dropbell, discover_extensions
from bot.config import Settings
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url

CONFLICTING = "tests.unit.conflicting_extension"


def test_every_extension_has_setup() -> None:
    extensions = discover_extensions()
    assert "cogs.core" in extensions and "cogs.drops" in extensions
    for name in extensions:
        module = importlib.import_module(name)
        assert callable(getattr(module, "setup", None)), f"{name} has no setup()"


@dataclass(frozen=True)
class ExtensionCommands:
    top_level: list[str]  # "/drop", or "message menu 'Report'" for a context menu
    qualified: list[str]  # every subcommand and subgroup by its full name: "/drop create"


def label(command: Command | Group | ContextMenu) -> str:
    if isinstance(command, ContextMenu):
        return f"{command.type.name} menu {command.name!r}"
    return f"/{command.qualified_name}"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url(tmp_path / "structure.db"))
    await upgrade(database)  # as setup_hook does before loading cogs
    yield database
    await database.dispose()


async def commands_of(extensions: list[str], database: Database) -> dict[str, ExtensionCommands]:
    """Each extension loaded alone into a fresh bot, and the commands it adds.

    Alone, because in one bot discord.py refuses the second of two same-named commands as it
    loads (or the second silently wins, with ``override``): a clash between extensions only
    shows when each one's commands are collected apart and compared.
    """
    settings = Settings.model_validate(
        {"discord": {"token": "t"}, "database": {"url": "sqlite+aiosqlite:///x.db"}}
    )
    found = {}
    async with httpx.AsyncClient() as client:
        for name in extensions:
            bot = Dropbell(settings=settings, database=database, http_client=client)
            try:
                await bot.load_extension(name)
                found[name] = ExtensionCommands(
                    top_level=[label(command) for command in bot.tree.get_commands()],
                    qualified=[
                        label(command)
                        for command in bot.tree.walk_commands(type=AppCommandType.chat_input)
                        if command.parent is not None
                    ],
                )
            finally:
                await bot.close()
    return found


def conflicts(found: Mapping[str, ExtensionCommands]) -> list[str]:
    """One sentence per command name that more than one extension defines."""
    problems = []
    for kind, names_of in (
        ("top-level command", lambda commands: commands.top_level),
        ("command", lambda commands: commands.qualified),
    ):
        owners: dict[str, list[str]] = defaultdict(list)
        for extension, commands in found.items():
            for command in names_of(commands):
                owners[command].append(extension)
        problems += [
            f"{kind} {command} is defined by {' and '.join(extensions)}"
            for command, extensions in owners.items()
            if len(extensions) > 1
        ]
    return problems


async def test_no_two_extensions_define_the_same_command(database: Database) -> None:
    found = await commands_of(discover_extensions(), database)
    problems = conflicts(found)
    assert not problems, "\n".join(problems)
    qualified = {name for commands in found.values() for name in commands.qualified}
    for expected in ("/dropbell about", "/drop create", "/waitlist join", "/announce schedule"):
        assert expected in qualified


async def test_the_check_reports_an_extension_that_redefines_a_command(
    database: Database,
) -> None:
    found = await commands_of(["cogs.core", "cogs.drops", CONFLICTING], database)
    assert found[CONFLICTING] == ExtensionCommands(["/drop"], ["/drop create"])
    assert conflicts(found) == [
        f"top-level command /drop is defined by cogs.drops and {CONFLICTING}",
        f"command /drop create is defined by cogs.drops and {CONFLICTING}",
    ]
