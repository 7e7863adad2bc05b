"""Start-up: build the resources, hand them to the bot, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

from bot.bot import Dropbell
from bot.config import Settings
from bot.endpoints import point_discord_at
from storage.engine import Database

log = logging.getLogger("dropbell.runner")


@contextlib.asynccontextmanager
async def built_bot(
    settings: Settings,
    *,
    connector: aiohttp.BaseConnector | None = None,
    extensions: list[str] | None = None,
    **bot_options: Any,
) -> AsyncIterator[Dropbell]:
    """The bot with its resources; everything is closed again on the way out."""
    restore = None
    if not settings.discord.is_discord:
        restore = point_discord_at(settings.discord.api_base, settings.discord.gateway_url)
    try:
        async with (
            Database(settings.database.url) as database,
            httpx.AsyncClient(timeout=10.0) as http_client,
            Dropbell(
                settings=settings,
                database=database,
                http_client=http_client,
                connector=connector,
                extensions=extensions,
                **bot_options,
            ) as bot,
        ):
            yield bot
    finally:
        if restore is not None:
            restore()


async def run(settings: Settings, *, connector: aiohttp.BaseConnector | None = None) -> None:
    """Run the bot until it is closed; SIGTERM and SIGINT close it gracefully (exit 0)."""
    async with built_bot(settings, connector=connector) as bot:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
        await bot.start(settings.discord.token.get_secret_value())
    log.info("dropbell stopped")


async def sync_commands(settings: Settings, guild_id: int | None) -> int:
    """Log in over HTTP only (no gateway) and sync the command tree; returns how many."""
    import discord

    async with built_bot(settings) as bot:
        await bot.login(settings.discord.token.get_secret_value())
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
        return len(synced)
