"""The dropbell bot: a ``commands.Bot`` that is handed its resources by whoever starts it."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import pkgutil
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import httpx
from discord import app_commands
from discord.ext import commands

from bot import errors, interaction_meter, ui
from bot.config import SchedulerSettings, Settings
from bot.inflight import InFlight
from services.registry import Services
from services.schedule.drop_plan import Offsets
from services.schedule.service import ScheduleConfig
from shops.base import Shop
from storage import migrate
from storage.engine import Database

log = logging.getLogger("dropbell")

EXTENSION_LOAD_TIMEOUT = 15.0
HANDLER_GRACE_SECONDS = 5.0
EXTENSIONS_PACKAGE = "cogs"


def discover_extensions() -> list[str]:
    """Every module or package directly under ``cogs/`` is one feature (private ones start _).

    Found by path, not imported: the bot knows its features only by their extension names.
    """
    spec = importlib.util.find_spec(EXTENSIONS_PACKAGE)
    assert spec is not None and spec.submodule_search_locations is not None
    return sorted(
        f"{EXTENSIONS_PACKAGE}.{module.name}"
        for module in pkgutil.iter_modules(spec.submodule_search_locations)
        if not module.name.startswith("_")
    )


def schedule_config(settings: SchedulerSettings) -> ScheduleConfig:
    return ScheduleConfig(
        grace_hours=settings.grace_hours,
        offsets=Offsets(
            countdowns=tuple(timedelta(minutes=m) for m in settings.countdown_offsets_minutes),
            reminders=tuple(timedelta(minutes=m) for m in settings.reminder_offsets_minutes),
        ),
        dm_per_second=settings.dm_per_second,
        dm_opens_per_second=settings.dm_opens_per_second,
    )


async def _nothing() -> None:
    return None


class DropbellTree(app_commands.CommandTree["Dropbell"]):
    async def interaction_check(self, interaction: discord.Interaction[Dropbell], /) -> bool:
        # Runs in the task of every command (and autocomplete): shutdown waits for it, and
        # the interaction is counted when it ends.
        interaction.client.in_flight.track_current()
        interaction_meter.handling(interaction)
        if interaction.type is discord.InteractionType.autocomplete:
            return await ui.may_autocomplete(interaction)
        return True

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
        commands_only: bool = False,
        shops: Mapping[str, Shop] | None = None,
        freeze_after_setup: bool = False,
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
        # For `dropbell sync`: the cogs are loaded for their commands' shapes, nothing starts.
        self.commands_only = commands_only
        # For `dropbell run` (one bot per process): see the end of setup_hook.
        self.freeze_after_setup = freeze_after_setup
        # Plain service code, built once; the cogs are thin Discord adapters around it.
        self.services = Services.build(
            database,
            schedule_config(settings.scheduler),
            shops=shops,
            hold=timedelta(minutes=settings.drops.hold_minutes),
            currency=settings.polls.currency,
        )
        self.in_flight = InFlight()
        self.web_port: int | None = None  # set once the web listener is up
        self.started_monotonic = time.monotonic()

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    async def setup_hook(self) -> None:
        if self.commands_only:
            for name in self.extension_names:
                await self._load(name)
            return
        # Migrations first: cogs may read their tables when they load.
        revision = await migrate.upgrade(self.database)
        log.info("database (%s) at migration %s", self.database.kind, revision)
        # Before the features load: the first process leads, and theirs start with them.
        await self.services.leadership.begin()
        for name in self.extension_names:
            await self._load(name)
        guild_id = self.settings.discord.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %s", len(synced), guild_id)
        if self.freeze_after_setup:
            # What start-up built (modules, tables, compiled statements, cogs) lives as long as
            # the process. Frozen out of the collector's way, a full collection no longer walks
            # it all: in the join_burst benchmark each one stalled the event loop (and every
            # fan in flight) for 100-270 ms, a few times a minute. Not for bots started and
            # stopped within one process (the tests): what is frozen is never collected.
            gc.collect()
            gc.freeze()

    async def add_cog(
        self,
        cog: commands.Cog,
        /,
        *,
        override: bool = False,
        guild: discord.abc.Snowflake | None = discord.utils.MISSING,
        guilds: Sequence[discord.abc.Snowflake] = discord.utils.MISSING,
    ) -> None:
        if self.commands_only:
            # cog_load/cog_unload are where a cog starts and stops its background work (the
            # scheduler, which would send due posts; the announcement refresher). Publishing
            # commands needs none of it, so this one cog instance gets no-ops instead.
            setattr(cog, "cog_load", _nothing)  # noqa: B010 (mypy forbids assigning a method)
            setattr(cog, "cog_unload", _nothing)  # noqa: B010
        await super().add_cog(cog, override=override, guild=guild, guilds=guilds)

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
        # discord.py does not wait for handlers still running (a join being written, an edit
        # rebuilding its schedule); let them finish, within reason, before resources go.
        late = await self.in_flight.wait(HANDLER_GRACE_SECONDS)
        if late:
            log.warning("%d handlers were still running at shutdown", late)
        await self.services.idle()
        await super().close()
        # The features stopped their duties as they unloaded; now the lock goes.
        await self.services.leadership.end()

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        # discord.py dispatches "interaction" for every interaction, before its handler runs:
        # where its answer time starts (bot/interaction_meter.py).
        if event_name == "interaction":
            interaction_meter.received(args[0])
        super().dispatch(event_name, *args, **kwargs)

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("logged in as %s (%s) in %d servers", self.user, self.user.id, len(self.guilds))


class ShardedDropbell(Dropbell, commands.AutoShardedBot):
    """The bot running the shards ``discord.shard_ids`` of ``discord.shard_count``: Discord
    sends it only the servers of those shards; other processes run the rest."""


def build_bot(settings: Settings, **options: Any) -> Dropbell:
    shards = settings.discord.shards
    if shards is None:
        return Dropbell(settings=settings, **options)
    return ShardedDropbell(
        settings=settings, shard_ids=shards, shard_count=settings.discord.shard_count, **options
    )
