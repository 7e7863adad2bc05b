"""The dropbell bot: a ``commands.Bot`` that is handed its resources by whoever starts it."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import time
from typing import Any

import aiohttp
import discord
import httpx
from discord import app_commands
from discord.ext import commands

import cogs
from bot import errors
from bot.config import Settings
from bot.managers import GuildSettingsService
from cogs.drops.service import DropService
from cogs.schedule.service import ScheduleService
from storage import migrate
from storage.engine import Database

log = logging.getLogger("dropbell")

EXTENSION_LOAD_TIMEOUT = 15.0
HANDLER_GRACE_SECONDS = 5.0
# Names discord.py gives the tasks it runs handlers in (events, app commands, buttons).
HANDLER_TASK_PREFIXES = ("discord.py: ", "CommandTree-invoker", "discord-ui-")


async def finish_handlers(timeout: float) -> None:
    """Wait up to ``timeout`` seconds for in-flight handler tasks (not this one) to end."""
    current = asyncio.current_task()
    running = [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and task.get_name().startswith(HANDLER_TASK_PREFIXES)
    ]
    if running:
        _, late = await asyncio.wait(running, timeout=timeout)
        if late:
            log.warning("%d handlers were still running at shutdown", len(late))


def discover_extensions() -> list[str]:
    """Every module or package directly under ``cogs/`` is one feature (private ones start _)."""
    return sorted(
        f"cogs.{module.name}"
        for module in pkgutil.iter_modules(cogs.__path__)
        if not module.name.startswith("_")
    )


class DropbellTree(app_commands.CommandTree["Dropbell"]):
    async def on_error(
        self, interaction: discord.Interaction[Dropbell], error: app_commands.AppCommandError
    ) -> None:
        await errors.report(interaction, error)


# dropbell never joins voice; don't warn on every start that voice libraries are missing.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


class Dropbell(commands.Bot):
    """The bot. Resources (settings, database, HTTP client) come from outside and outlive it."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        http_client: httpx.AsyncClient,
        extensions: list[str] | None = None,
        connector: aiohttp.BaseConnector | None = None,
        **options: Any,
    ) -> None:
        # Only the guilds intent: interactions carry their member, so no privileged intents
        # and no member cache are needed, and the gateway stays quiet.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            tree_cls=DropbellTree,
            help_command=None,
            connector=connector,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.database = database
        self.http_client = http_client
        self.extension_names = discover_extensions() if extensions is None else extensions
        self.failed_extensions: dict[str, str] = {}
        # Plain service code, shared by the cogs that are thin Discord adapters around it.
        self.guild_settings = GuildSettingsService(database)
        self.drop_service = DropService(database)
        self.schedule_service = ScheduleService(
            database, settings.scheduler, self.guild_settings, self.drop_service
        )
        self.started_monotonic = time.monotonic()

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    async def setup_hook(self) -> None:
        # Migrations first: cogs may read their tables when they load.
        revision = await migrate.upgrade(self.database)
        log.info("database (%s) at migration %s", self.database.kind, revision)
        for name in self.extension_names:
            await self._load(name)
        guild_id = self.settings.discord.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %s", len(synced), guild_id)

    async def _load(self, name: str) -> None:
        """Load one extension; a broken one is logged and skipped so the rest still run."""
        try:
            await asyncio.wait_for(self.load_extension(name), EXTENSION_LOAD_TIMEOUT)
        except Exception as error:
            self.failed_extensions[name] = repr(error)
            log.exception("extension %s failed to load and is skipped", name)
        else:
            log.debug("loaded extension %s", name)

    async def close(self) -> None:
        # discord.py does not wait for event handlers still running (a join being written, a
        # listener syncing a schedule); let them finish, within reason, before resources go.
        await finish_handlers(HANDLER_GRACE_SECONDS)
        await super().close()

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("logged in as %s (%s) in %d servers", self.user, self.user.id, len(self.guilds))
