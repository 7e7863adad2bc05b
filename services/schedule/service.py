"""Scheduled sends that fire on time and exactly once, through crashes and restarts.

The ``scheduled_sends`` table is the schedule; the pieces:

- :mod:`jobs` — the in-memory APScheduler, only a cache of the table;
- :mod:`firing` — claim, post, record: each send exactly once;
- :mod:`recovery` — at start, settle what a crash or downtime left;
- :mod:`announcements` — ``/announce`` drafts, confirmations, cancels;
- :mod:`drop_plan` — the countdowns, opening and reminders of each drop;
- :mod:`dm_queue` — reminder DMs, paced under Discord's global limit.

Posting goes through an :class:`~services.schedule.outbox.Outbox` handed in at :meth:`start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from services.drops.service import DropService
from services.guild_settings import GuildSettingsService
from services.schedule import render
from services.schedule.announcements import Announcements
from services.schedule.dm_queue import DMQueue
from services.schedule.drop_plan import DropPlan, Offsets
from services.schedule.firing import Sender, SendHandler
from services.schedule.jobs import JobCache
from services.schedule.outbox import Outbox
from services.schedule.recovery import Recovery
from services.schedule.reports import ManagerReports
from storage.drops import Drop
from storage.engine import Database
from storage.reminders import ReminderStore
from storage.schedule import SendStore
from storage.states import SendKind, SendState

log = logging.getLogger("dropbell.schedule")

STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ScheduleConfig:
    grace_hours: float
    offsets: Offsets
    dm_per_second: float
    dm_opens_per_second: float


class ScheduleService:
    def __init__(
        self,
        database: Database,
        config: ScheduleConfig,
        guild_settings: GuildSettingsService,
        drops: DropService,
    ) -> None:
        self.config = config
        self.guild_settings = guild_settings
        self.drops = drops
        self.sends = SendStore(database)
        self.reminders = ReminderStore(database)
        self.jobs = JobCache(self._fire)
        self.dm_queue = DMQueue(
            self.reminders,
            drops.get_any,
            per_second=config.dm_per_second,
            opens_per_second=config.dm_opens_per_second,
        )
        self.announcements = Announcements(self.sends, self.jobs)
        self.drop_plan = DropPlan(self.sends, self.reminders, self.jobs, drops, config.offsets)
        self.sender: Sender | None = None
        # Sends other features post themselves, by kind (registered before start).
        self.handlers: dict[SendKind, SendHandler] = {}
        self.reports: ManagerReports | None = None
        self.before_opening: Callable[[int], Awaitable[object]] | None = None
        self._boot: asyncio.Task[None] | None = None
        # The schedule follows every change of a drop (created, moved, cancelled, opened).
        drops.events.on_drop_changed(self.drop_plan.sync_drop)
        # A fan who asks for reminders gets their DM channel opened now, slowly, not at the
        # moment a thousand reminders are due.
        drops.events.on_reminder_opt_in(self.dm_queue.warm)
        # Units came back to a live drop: its opted-in fans hear it by DM.
        drops.events.on_restock(partial(self.drop_plan.owe_dms, kind=SendKind.RESTOCK))

    def attach(self, outbox: Outbox) -> None:
        """Post through ``outbox`` from now on: what any process may send on request (a
        ``/poll close`` fires its row at once, through the same claim), and the managers'
        reports. The schedule itself runs only after :meth:`start` (in the leading process)."""
        reports = ManagerReports(outbox, self.guild_settings, self.drops, self.config.grace_hours)
        self.reports = reports
        self.sender = Sender(
            sends=self.sends,
            reminders=self.reminders,
            drops=self.drops,
            outbox=outbox,
            jobs=self.jobs,
            dm_queue=self.dm_queue,
            reports=reports,
            handlers=self.handlers,
        )
        self.sender.before_opening = self.before_opening

    async def tell(self, guild_id: int, text: str) -> bool:
        """A notice for a server's managers, from any process once an outbox is attached (the
        schedule cog attaches one on every process, leading or not). True once delivered."""
        if self.reports is None:
            log.warning("no outbox attached yet to tell guild %s: %s", guild_id, text)
            return False
        return await self.reports.tell(guild_id, text)

    async def start(self, outbox: Outbox) -> None:
        """Start the scheduler and rebuild it from the table (in the background: no waiting
        for the gateway; posting needs only REST)."""
        self.attach(outbox)
        assert self.sender is not None and self.reports is not None
        reports = self.reports
        recovery = Recovery(
            sends=self.sends,
            drops=self.drops,
            sender=self.sender,
            jobs=self.jobs,
            reports=reports,
            grace=timedelta(hours=self.config.grace_hours),
        )
        self.jobs.start()
        self._boot = asyncio.create_task(
            self._recover(recovery, outbox), name="dropbell-schedule-recover"
        )

    async def _recover(self, recovery: Recovery, outbox: Outbox) -> None:
        try:
            await self.dm_queue.start(outbox)
            await recovery.run()
        except Exception:
            log.exception("could not rebuild the schedule from the database")
            raise

    async def _fire(self, send_id: int) -> None:
        if self.sender is not None:
            await self.sender.fire(send_id)

    async def opening_post(self, drop: Drop) -> tuple[int, int, str] | None:
        """(channel id, message id, text as it should read now) of the drop's opening post,
        so the post can keep showing the real remaining stock."""
        row = await self.sends.sent_opening(drop.id)
        channel_id = drop.channel_id or (row.channel_id if row else None)
        if row is None or row.message_id is None or channel_id is None:
            return None
        return channel_id, row.message_id, render.opening(row, drop)

    async def wait_started(self) -> None:
        if self._boot is not None:
            await asyncio.shield(self._boot)

    async def stop(self) -> None:
        """Graceful: no new sends start, sends in flight finish, unsent rows stay pending."""
        if self.sender is not None:
            self.sender.stopping = True
        self.jobs.stop()
        if self._boot is not None and not self._boot.done():
            # Let recovery finish rather than cancel it mid-query: a cancelled database call
            # leaves its driver thread answering a loop that may be gone. Cancel only if stuck.
            _, stuck = await asyncio.wait({self._boot}, timeout=STOP_TIMEOUT)
            if stuck:
                self._boot.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._boot
        if self._boot is not None and self._boot.done() and not self._boot.cancelled():
            self._boot.exception()  # a failure was logged by _recover; don't warn about it again
        if self.sender is not None and self.sender.inflight:
            await asyncio.wait(set(self.sender.inflight), timeout=STOP_TIMEOUT)
        await self.dm_queue.stop()

    async def sweep(self) -> None:
        """Follow rows another bot process wrote or changed since the last look (a drop created
        or moved through it): the job cache mirrors the pending rows again."""
        if not self.jobs.running:
            return
        cached = self.jobs.due_times()
        pending = set()
        for row in await self.sends.in_states(SendState.PENDING):
            job = JobCache.job_id(row.id)
            pending.add(job)
            if cached.get(job) != row.due_at:
                self.jobs.schedule(row)
        for job in cached.keys() - pending:
            self.jobs.unschedule(JobCache.send_id(job))
        await self.dm_queue.sweep()

    async def fire_now(self, send_id: int) -> None:
        """Send a pending row at once (a /poll close): the same claim, so it still goes once."""
        self.jobs.unschedule(send_id)
        if self.sender is not None:
            await self.sender.fire(send_id, early=True)
