"""Every feature's service, built once from the bot's resources and handed to the cogs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.dropday.service import DropDay
from services.drops.service import DropService
from services.events import DropEvents
from services.guild_settings import GuildSettingsService
from services.polls.service import PollService
from services.schedule.service import ScheduleConfig, ScheduleService
from shops.base import Shop
from storage.engine import Database


@dataclass(frozen=True)
class Services:
    events: DropEvents
    guild_settings: GuildSettingsService
    drops: DropService
    schedule: ScheduleService
    drop_day: DropDay
    polls: PollService

    @classmethod
    def build(
        cls,
        database: Database,
        schedule: ScheduleConfig,
        shops: Mapping[str, Shop] | None = None,
        hold: timedelta = timedelta(minutes=15),
        currency: str = "EUR",
    ) -> Services:
        events = DropEvents()
        guild_settings = GuildSettingsService(database)
        drops = DropService(database, events)
        scheduled = ScheduleService(database, schedule, guild_settings, drops)
        return cls(
            events=events,
            guild_settings=guild_settings,
            drops=drops,
            schedule=scheduled,
            drop_day=DropDay(database, events, shops or {}, hold),
            polls=PollService(database, scheduled, drops, currency),
        )

    async def idle(self) -> None:
        """Wait for work handed in but not yet written (joins waiting for their batch)."""
        await self.drops.joins_idle()
        await self.drop_day.claims.idle()
        await self.polls.idle()
