"""Every feature's service, built once from the bot's resources and handed to the cogs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.collectors.service import CollectorService
from services.dropday.service import DropDay
from services.drops.service import DropService
from services.events import DropEvents
from services.followups.service import PurchaseFollowups
from services.guild_settings import GuildSettingsService
from services.insights.service import InsightsService
from services.leadership import Leadership
from services.metrics import DatabaseGauges
from services.polls.service import PollService
from services.privacy import PrivacyService
from services.schedule.service import ScheduleConfig, ScheduleService
from shops.base import Shop
from storage.engine import Database
from storage.followups import FollowupStore
from storage.leader_lock import LeaderLock


@dataclass(frozen=True)
class Services:
    events: DropEvents
    guild_settings: GuildSettingsService
    drops: DropService
    schedule: ScheduleService
    drop_day: DropDay
    polls: PollService
    collectors: CollectorService
    privacy: PrivacyService
    insights: InsightsService
    followups: PurchaseFollowups
    gauges: DatabaseGauges
    # Which process (of several on one PostgreSQL database) runs the background work.
    leadership: Leadership

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
        schedule_service = ScheduleService(database, schedule, guild_settings, drops)
        collectors = CollectorService(database)
        # Notices about tier roles that had no announce channel to go to go out once one is set.
        guild_settings.channel_set.append(collectors.announce_channel_set)
        drop_day = DropDay(
            database,
            events,
            shops or {},
            hold,
            collectors.is_collector,
            # Drop day's notices (a shop down, a late payment) go the schedule's way.
            notify=schedule_service.tell,
        )
        # A purchase or refund wakes the role queue (its rows are already committed).
        drop_day.orders.listeners.append(collectors)
        # An opening post waits (briefly) for the drop's purchase links.
        schedule_service.before_opening = drop_day.prepare_opening
        # A purchase by a fan who asked for reminders owes one thank-you DM, sent by the
        # schedule's DM machinery.
        followups = PurchaseFollowups(
            FollowupStore(database), schedule_service.reminders, schedule_service.dm_queue
        )
        drop_day.orders.listeners.append(followups)
        polls = PollService(database, schedule_service, drops, currency)
        return cls(
            events=events,
            guild_settings=guild_settings,
            drops=drops,
            schedule=schedule_service,
            drop_day=drop_day,
            polls=polls,
            collectors=collectors,
            privacy=PrivacyService(database, events, polls, collectors.queue.poke),
            insights=InsightsService(database, drops),
            followups=followups,
            gauges=DatabaseGauges(database),
            leadership=Leadership(LeaderLock(database)),
        )

    async def idle(self) -> None:
        """Wait for work handed in but not yet written (joins waiting for their batch)."""
        await self.drops.joins_idle()
        await self.drop_day.claims.idle()
        await self.polls.idle()
