"""Every feature's service, built once from the bot's resources and handed to the cogs."""

from __future__ import annotations

from dataclasses import dataclass

from services.drops.service import DropService
from services.events import DropEvents
from services.guild_settings import GuildSettingsService
from services.schedule.service import ScheduleConfig, ScheduleService
from storage.engine import Database


@dataclass(frozen=True)
class Services:
    events: DropEvents
    guild_settings: GuildSettingsService
    drops: DropService
    schedule: ScheduleService

    @classmethod
    def build(cls, database: Database, schedule: ScheduleConfig) -> Services:
        events = DropEvents()
        guild_settings = GuildSettingsService(database)
        drops = DropService(database, events)
        return cls(
            events=events,
            guild_settings=guild_settings,
            drops=drops,
            schedule=ScheduleService(database, schedule, guild_settings, drops),
        )

    async def idle(self) -> None:
        """Wait for work handed in but not yet written (joins waiting for their batch)."""
        await self.drops.joins_idle()
