"""The schedule's life in the bot: start with the cog, follow drop changes, stop gracefully."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.schedule.service import ScheduleService

if TYPE_CHECKING:
    from bot.bot import Dropbell

log = logging.getLogger("dropbell.schedule")


class Schedule(commands.Cog):
    def __init__(self, bot: Dropbell, service: ScheduleService) -> None:
        self.bot = bot
        self.service = service

    async def cog_load(self) -> None:
        # Rebuilt from the table in the background: no waiting for the gateway here.
        await self.service.start_discord(self.bot)

    async def cog_unload(self) -> None:
        # Runs from bot.close() (SIGTERM): in-flight sends finish, the rest stays pending.
        await self.service.stop()

    @commands.Cog.listener()
    async def on_drop_changed(self, drop_id: int) -> None:
        try:
            await self.service.sync_drop(drop_id)
        except Exception:
            log.exception("could not reschedule the posts of drop %s", drop_id)
