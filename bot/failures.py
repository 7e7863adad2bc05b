"""Operator mistakes and outages as one sentence each: what went wrong and what to do.

The CLI prints the sentence and exits non-zero; the traceback goes to the log at DEBUG
(``dropbell -v ...`` shows it). Anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os

import aiohttp
import discord
import sqlalchemy.exc

from bot.config import Settings
from bot.preflight import TOKEN_HELP

EXIT_FAILED = 1


def explain(error: BaseException, settings: Settings | None = None) -> str | None:
    """One sentence for an error an operator can cause or fix, else None."""
    api_base = settings.discord.api_base if settings else "Discord"
    if isinstance(error, discord.LoginFailure):
        where = "Discord" if settings is None or settings.discord.is_discord else api_base
        return (
            f"{where} refused the token (401 Unauthorized); {TOKEN_HELP} "
            "and set discord.token or DROPBELL_DISCORD__TOKEN."
        )
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot reach {api_base} ({_reason(error)}); check the network or discord.api_base."
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        # Never the password a PostgreSQL URL may carry: this sentence goes to the terminal.
        url = (
            sqlalchemy.engine.make_url(settings.database.url).render_as_string(hide_password=True)
            if settings
            else "the database"
        )
        reason = str(error.orig) if error.orig is not None else str(error)
        if "file is not a database" in reason:
            path = url.partition(":///")[2]
            return (
                f"{path} is not a SQLite database; set database.url to a new file "
                "or to dropbell's own database."
            )
        return f"cannot use the database {url}: {reason}."
    return None


def busy_port(error: OSError, host: str, port: int, option: str = "--port") -> str | None:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use; stop what uses it or pick another {option}."
        )
    return None


def _reason(error: aiohttp.ClientConnectorError) -> str:
    # "Connect call failed ('127.0.0.1', 9)" says less than the errno's own words.
    cause = error.os_error
    return os.strerror(cause.errno) if cause is not None and cause.errno else str(error)
