"""The schedule's life in the bot: it starts with this cog (posting through discord.py) and
stops gracefully with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.schedule.outbox import DiscordOutbox

if TYPE_CHECKING:
    from bot.bot import Dropbell


class Schedule(commands.Cog):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # Every process may post what is asked of it now (a /poll close) and tell managers
        # what it saw (its shop circuit opened); only the leading one runs the schedule (at once
        # if this one leads).
        self.bot.services.schedule.attach(DiscordOutbox(self.bot))
        await self.bot.services.leadership.take_on("schedule", self._start, self._stop, self._sweep)

    async def cog_unload(self) -> None:
        await self.bot.services.leadership.give_up("schedule")

    async def _start(self) -> None:
        # Rebuilt from the table in the background: no waiting for the gateway here.
        services = self.bot.services
        await services.schedule.start(DiscordOutbox(self.bot))
        # Drop day's upkeep (holds, raffle rounds, the link pool); its notices go through the
        # schedule's reports, which every process has (attached in cog_load).
        services.drop_day.start()

    async def _stop(self) -> None:
        # From bot.close() (SIGTERM) or a lost leadership: in-flight sends finish, the rest
        # stays pending.
        await self.bot.services.drop_day.stop()
        await self.bot.services.schedule.stop()
        if not self.bot.is_closed():  # leadership lost, the process lives on as a follower
            self.bot.services.schedule.attach(DiscordOutbox(self.bot))

    async def _sweep(self) -> None:
        await self.bot.services.schedule.sweep()
        self.bot.services.drop_day.keeper.poke()
