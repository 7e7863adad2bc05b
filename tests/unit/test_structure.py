"""Every cog module loads, has setup(), and no two commands share a name."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

from bot.bot import Dropbell, discover_extensions
from bot.config import Settings
from storage.engine import Database
from storage.migrate import upgrade


def test_every_extension_has_setup() -> None:
    extensions = discover_extensions()
    assert "cogs.core" in extensions and "cogs.drops" in extensions
    for name in extensions:
        module = importlib.import_module(name)
        assert callable(getattr(module, "setup", None)), f"{name} has no setup()"


async def test_commands_load_without_duplicates(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"discord": {"token": "t"}, "database": {"url": "sqlite+aiosqlite:///x.db"}}
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'structure.db'}")
    await upgrade(database)  # as setup_hook does before loading cogs
    import httpx

    async with httpx.AsyncClient() as client:
        bot = Dropbell(settings=settings, database=database, http_client=client)
        for name in bot.extension_names:
            await bot.load_extension(name)
        top_level = [command.name for command in bot.tree.get_commands()]
        duplicates = [name for name, count in Counter(top_level).items() if count > 1]
        assert not duplicates
        qualified = [c.qualified_name for c in bot.tree.walk_commands()]
        assert len(qualified) == len(set(qualified))
        for expected in ("dropbell about", "drop create", "waitlist join", "waitlist status"):
            assert expected in qualified
        await bot.close()
    await database.dispose()
