"""What ``dropbell run`` would fail on that the settings' schema alone cannot see.

``dropbell check`` runs all of it; every command that opens the database runs
:func:`database_problems` first, so a wrong path is one sentence, not a driver's traceback.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from bot.config import Settings

EXAMPLE_TOKEN = "paste-your-bot-token-here"
TOKEN_HELP = "copy it from the Discord developer portal (your application, Bot page)"
# Three base64url parts joined by dots: the user id, a timestamp and an HMAC.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
DRIVERS = {"sqlite+aiosqlite": "aiosqlite", "postgresql+asyncpg": "asyncpg"}


def database_problems(url: str) -> list[str]:
    """What stops this database URL before any connection: a missing driver or folder."""
    scheme = url.partition("://")[0]
    driver = DRIVERS.get(scheme)
    if driver is not None and importlib.util.find_spec(driver) is None:
        return [f"database.url needs the {driver} driver, not installed (pip install {driver})."]
    if scheme == "sqlite+aiosqlite":
        file = url.partition(":///")[2].partition("?")[0]
        folder = Path(file).parent if file and file != ":memory:" else None
        if folder is not None and not folder.is_dir():
            return [f"database.url: the folder {folder} does not exist; create it or fix the path."]
    return []


def preflight(settings: Settings) -> list[str]:
    """What ``dropbell run`` would fail on that the schema alone cannot see."""
    problems = []
    token = settings.discord.token.get_secret_value().strip()
    if token == EXAMPLE_TOKEN:
        problems.append(f"discord.token is still the example's placeholder; {TOKEN_HELP}.")
    elif settings.discord.is_discord and not TOKEN_SHAPE.fullmatch(token):
        # A compatible server such as the sandbox takes any token; Discord takes only these.
        problems.append(
            "discord.token does not look like a bot token (three parts joined by dots); "
            f"{TOKEN_HELP}."
        )
    return problems + database_problems(settings.database.url)
