"""Start-up: build the resources, hand them to the bot, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from bot.bot import Dropbell, build_bot
from bot.config import Settings
from bot.endpoints import point_discord_at
from bot.shop_connections import connect_shops
from bot.web import WebListener
from shops.base import Shop
from storage.engine import Database

log = logging.getLogger("dropbell.runner")
MAX_RETRY_SECONDS = 30.0


@contextlib.asynccontextmanager
async def built_bot(
    settings: Settings,
    *,
    connector: aiohttp.BaseConnector | None = None,
    extensions: list[str] | None = None,
    shops: Mapping[str, Shop] | None = None,
    **bot_options: Any,
) -> AsyncIterator[Dropbell]:
    """The bot with its resources, and its web listener; everything is closed on the way out.

    ``shops`` replaces the shops of the settings (tests and the demo hand in their own).
    """
    restore = None
    if shops is None:
        # Shops are connected before the bot exists; a circuit that opens tells managers
        # through the bot's services, looked up when it happens.
        shops = connect_shops(
            settings, on_open=lambda name, reason: bot.services.drop_day.shop_down(name, reason)
        )
    if not settings.discord.is_discord:
        restore = point_discord_at(settings.discord.api_base, settings.discord.gateway_url)
    try:
        async with (
            Database(settings.database.url) as database,
            httpx.AsyncClient(timeout=10.0) as http_client,
            build_bot(
                settings,
                database=database,
                http_client=http_client,
                connector=connector,
                extensions=extensions,
                shops=shops,
                **bot_options,
            ) as bot,
        ):
            if bot.commands_only:
                yield bot
                return
            web = WebListener(
                bot.services,
                settings.web.host,
                settings.web.port,
                health={"database": database.kind},
            )
            bot.web_port = await web.start()
            try:
                yield bot
            finally:
                await web.stop()
    finally:
        for shop in shops.values():
            await shop.aclose()
        if restore is not None:
            restore()


def backoff() -> Iterator[float]:
    """Seconds between attempts to reach Discord: 1, 2, 4 ... then every 30."""
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 2, MAX_RETRY_SECONDS)


async def _reachable(url: str) -> str | None:
    """None if a TCP connection to ``url``'s host opens, else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), 10)
    except TimeoutError:
        return "no answer within 10 s"
    except OSError as error:
        return os.strerror(error.errno) if error.errno else str(error)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def wait_until_reachable(url: str, stop: asyncio.Event) -> bool:
    """Retry until ``url`` answers (True) or ``stop`` is set (False); one line per attempt.

    discord.py retries a lost gateway itself but gives up at once if the first login cannot
    connect, and an outage at start is as ordinary as one later.
    """
    for attempt, delay in enumerate(backoff(), start=1):
        reason = await _reachable(url)
        if reason is None:
            return True
        log.warning(
            "cannot reach %s (%s); attempt %d, retrying in %gs", url, reason, attempt, delay
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
    raise AssertionError("backoff() never ends")


async def run(settings: Settings, *, connector: aiohttp.BaseConnector | None = None) -> None:
    """Run the bot until it is closed; SIGTERM and SIGINT close it gracefully (exit 0)."""
    async with built_bot(settings, connector=connector, freeze_after_setup=True) as bot:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        closing: list[asyncio.Task[None]] = []

        def close() -> None:
            stop.set()
            closing.append(asyncio.ensure_future(bot.close()))

        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, close)
        if await wait_until_reachable(settings.discord.api_base, stop):
            await bot.start(settings.discord.token.get_secret_value())
    log.info("dropbell stopped")


async def publish_commands(bot: Dropbell, token: str, guild_id: int | None) -> int:
    """Log in over HTTP only (no gateway) and sync the command tree; returns how many."""
    import discord

    await bot.login(token)
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    synced = await bot.tree.sync(guild=guild)
    return len(synced)


async def sync_commands(settings: Settings, guild_id: int | None) -> int:
    async with built_bot(settings, commands_only=True) as bot:
        return await publish_commands(bot, settings.discord.token.get_secret_value(), guild_id)
