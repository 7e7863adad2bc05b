"""Scheduled sends that fire on time and exactly once, through crashes and restarts.

The ``scheduled_sends`` table is the schedule. The APScheduler ``AsyncIOScheduler`` (in-memory
job store, never shared) is only a cache of it: one date job per pending row, rebuilt from the
rows every time the service starts, changed whenever a row changes.

Exactly once, in three steps per post:

1. claim the row with ``UPDATE … SET state='sending' WHERE id=? AND state='pending'``; whoever
   loses the race (a second job, a restart, a cancel) does nothing;
2. post the message, which ends with a marker line (``-# dropbell · ref S12``);
3. record the message id (``state='sent'``).

If the process dies between 1 and 3, the row is left ``sending``. On the next start we read the
channel's recent messages (``GET /channels/{id}/messages``, the last 100) and look for the
marker: found means it was posted (we record that message id), absent means the POST never
reached Discord (the row goes back to pending and is sent). We chose this over marking the row
"uncertain" because it needs no human in the common case and cannot double-post: a post is only
repeated when it is provably not in the channel. Only when the history cannot be read (lost
permission, Discord down) is the row marked ``uncertain`` and the managers told.

APScheduler's own misfire handling is switched off on purpose (``misfire_grace_time=None``,
``coalesce=True``): its default grace of 1 s would silently drop a job that is a second late after
a restart. Lateness is our decision, made from the table: at start, rows overdue by less than the
grace window (config ``scheduler.grace_hours``) are sent at once, older ones are marked missed and
reported to the managers in the announce channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.config import SchedulerSettings
from bot.errors import UserError
from bot.localtime import LOCAL_FORMAT, discord_timestamp, format_local, utcnow, zone
from bot.managers import GuildSettingsService
from cogs.drops.service import Drop, DropService
from cogs.schedule import render
from cogs.schedule.dm_queue import DMQueue
from cogs.schedule.outbox import DiscordOutbox, Outbox, SendFailed
from cogs.schedule.store import (
    CANCELLED,
    DRAFT,
    FAILED,
    MISSED,
    PENDING,
    SENDING,
    SENT,
    UNCERTAIN,
    ScheduledSend,
    ScheduleStore,
)
from cogs.schedule.timing import REPEAT_STEPS, next_occurrence

log = logging.getLogger("dropbell.schedule")

REMINDER_OFFSETS = (timedelta(hours=1), timedelta(0))
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=30)
STOP_TIMEOUT = 10.0
ROLE_MENTION = re.compile(r"<@&(\d+)>")


class ScheduleService:
    def __init__(
        self,
        database: Any,
        settings: SchedulerSettings,
        guild_settings: GuildSettingsService,
        drops: DropService,
    ) -> None:
        self.store = ScheduleStore(database)
        self.guild_settings = guild_settings
        self.drops = drops
        self.grace = timedelta(hours=settings.grace_hours)
        self.grace_hours = settings.grace_hours
        # What a drop gets: countdown posts this long before opening, reminder DMs at these
        # marks. Plain attributes so a demo or a test can compress them into seconds.
        self.countdown_offsets = [timedelta(minutes=m) for m in settings.countdown_offsets_minutes]
        self.reminder_offsets = list(REMINDER_OFFSETS)
        self.dm_queue = DMQueue(self.store, drops.get_any)
        self.outbox: Outbox | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._boot: asyncio.Task[None] | None = None
        self._stopping = False
        self.posted = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self, outbox: Outbox) -> None:
        """Start the scheduler and rebuild it from the table (in the background: no waiting
        for the gateway; posting needs only REST)."""
        self.outbox = outbox
        self._stopping = False
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.scheduler.start()
        self._boot = asyncio.create_task(self._recover(), name="dropbell-schedule-recover")

    async def start_discord(self, bot: Any) -> None:
        """Start with the real discord.py outbox.

        Built here, not in the cog: unloading an extension drops ``cogs.schedule.*`` from
        ``sys.modules``, so a cog reloaded later would import fresh copies of these classes
        while this service (created by the bot) keeps the originals; ``except SendFailed``
        must see the class its own outbox raises.
        """
        await self.start(DiscordOutbox(bot))

    async def wait_started(self) -> None:
        if self._boot is not None:
            await asyncio.shield(self._boot)

    async def stop(self) -> None:
        """Graceful: no new sends start, sends in flight finish, unsent rows stay pending."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
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
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=STOP_TIMEOUT)
        await self.dm_queue.stop()

    async def _recover(self) -> None:
        try:
            assert self.outbox is not None
            await self.dm_queue.start(self.outbox)
            now = utcnow()
            for row in await self.store.in_states(SENDING):
                await self._resolve_sending(row)
            for row in await self.store.in_states(DRAFT):
                # A preview nobody confirmed within the interaction's lifetime is dropped.
                if row.due_at < now or row.created_by is None:
                    await self.store.transition(row.id, (DRAFT,), CANCELLED)
            missed: dict[int, list[ScheduledSend]] = defaultdict(list)
            for row in await self.store.in_states(PENDING):
                if row.due_at < now - self.grace:
                    done = await self.store.transition(row.id, (PENDING,), MISSED)
                    if done is not None:
                        missed[done.guild_id].append(done)
                        await self._after_missed(done)
                else:
                    self._schedule(row)
            for guild_id, rows in missed.items():
                await self._report_missed(guild_id, rows)
        except Exception:
            log.exception("could not rebuild the schedule from the database")
            raise

    async def _resolve_sending(self, row: ScheduledSend) -> None:
        """A row a crash left between claim and record: was it posted? (See the module doc.)"""
        assert self.outbox is not None
        channel_id = await self._channel_of(row)
        if channel_id is None:
            await self.store.transition(row.id, (SENDING,), PENDING)
            return
        try:
            found = await self.outbox.find_marker(channel_id, render.marker_pattern(row.marker))
        except SendFailed as error:
            log.warning("send %s: could not read channel %s: %s", row.id, channel_id, error)
            await self.store.transition(row.id, (SENDING,), UNCERTAIN)
            what = await self.describe(row)
            await self._report(row.guild_id, render.uncertain_report(row, what, channel_id))
            return
        if found is None:
            log.info("send %s was not posted before the restart; sending it now", row.id)
            await self.store.transition(row.id, (SENDING,), PENDING)
            return
        log.info("send %s was already posted (message %s) before the restart", row.id, found)
        follow = self._follow_up(row)
        next_row = await self.store.mark_sent(row.id, found, follow)
        if next_row is not None:
            self._schedule(next_row)

    # --- the in-memory cache of the table ----------------------------------------------------
    def _schedule(self, row: ScheduledSend) -> None:
        if self.scheduler is None or not self.scheduler.running or self._stopping:
            return
        self.scheduler.add_job(
            self._fire,
            trigger=DateTrigger(run_date=row.due_at, timezone=UTC),
            args=[row.id],
            id=f"send-{row.id}",
            replace_existing=True,
        )

    def _unschedule(self, send_id: int) -> None:
        if self.scheduler is None or not self.scheduler.running:
            return
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(f"send-{send_id}")

    def scheduled_job_ids(self) -> set[str]:
        if self.scheduler is None or not self.scheduler.running:
            return set()
        return {job.id for job in self.scheduler.get_jobs()}

    # --- firing ------------------------------------------------------------------------------
    async def _fire(self, send_id: int) -> None:
        if self._stopping:
            return  # left pending: the next start sends it
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._run(send_id)
        except Exception:
            log.exception("scheduled send %s failed", send_id)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _run(self, send_id: int) -> None:
        row = await self.store.get(send_id)
        if row is None or row.state != PENDING:
            return
        if row.kind == "reminder":
            # Claim, fan out and mark sent in one transaction; the DMs follow from the queue.
            self.dm_queue.submit(await self.store.fan_out(send_id))
            return
        claimed = await self.store.claim(send_id)
        if claimed is not None:
            await self._post(claimed)

    async def _post(self, row: ScheduledSend) -> None:
        assert self.outbox is not None
        drop = await self.drops.get_any(row.drop_id) if row.drop_id is not None else None
        went_live = False
        ping_role_id: int | None = None
        if row.kind == "announcement":
            channel_id, content = row.channel_id, render.announcement(row)
            mention = ROLE_MENTION.search(row.message or "")
            ping_role_id = int(mention.group(1)) if mention else None
        elif (
            drop is None
            or not drop.is_open
            or (row.kind == "countdown" and drop.status != "scheduled")
        ):
            await self.store.transition(row.id, (SENDING,), CANCELLED)
            return
        elif row.kind == "countdown":
            channel_id, content = drop.channel_id, render.countdown(row, drop)
        else:  # opening
            live = await self.drops.mark_live(drop.id)
            if live is not None:
                drop, went_live = live, True
            channel_id, content = drop.channel_id, render.opening(row, drop)
            ping_role_id = drop.ping_role_id
        try:
            if channel_id is None:
                raise SendFailed("no channel", permanent=True)
            message_id = await self.outbox.post(channel_id, content, ping_role_id=ping_role_id)
        except SendFailed as error:
            await self._post_failed(row, channel_id, error)
        else:
            self.posted += 1
            next_row = await self.store.mark_sent(row.id, message_id, self._follow_up(row))
            if next_row is not None:
                self._schedule(next_row)
        finally:
            if went_live:
                self.outbox.drop_went_live(row.drop_id or 0)

    async def _post_failed(
        self, row: ScheduledSend, channel_id: int | None, error: SendFailed
    ) -> None:
        if not error.permanent and row.attempts < MAX_ATTEMPTS:
            log.warning("send %s failed (%s); trying again shortly", row.id, error.text)
            retried = await self.store.transition(
                row.id, (SENDING,), PENDING, due_at=utcnow() + RETRY_AFTER
            )
            if retried is not None:
                self._schedule(retried)
            return
        log.warning("send %s failed for good: %s", row.id, error.text)
        await self.store.transition(row.id, (SENDING,), FAILED)
        what = await self.describe(row)
        await self._report(row.guild_id, render.failed_report(what, channel_id, error.text))
        follow = self._follow_up(row)
        if follow is not None:
            self._schedule(await self.store.insert(**follow))

    def _follow_up(self, row: ScheduledSend) -> dict[str, Any] | None:
        """The next occurrence of a repeating announcement, at the same local wall-clock."""
        if not row.repeat or not row.wall_clock or not row.timezone:
            return None
        wall_clock, due_at = next_occurrence(row.wall_clock, row.timezone, row.repeat, utcnow())
        return {
            "guild_id": row.guild_id,
            "kind": row.kind,
            "channel_id": row.channel_id,
            "due_at": due_at,
            "message": row.message,
            "timezone": row.timezone,
            "wall_clock": wall_clock,
            "repeat": row.repeat,
            "created_by": row.created_by,
        }

    async def _after_missed(self, row: ScheduledSend) -> None:
        # A missed opening still opens the drop; only the late post is skipped.
        if (
            row.kind == "opening"
            and row.drop_id is not None
            and await self.drops.mark_live(row.drop_id) is not None
            and self.outbox is not None
        ):
            self.outbox.drop_went_live(row.drop_id)
        follow = self._follow_up(row)
        if follow is not None:
            self._schedule(await self.store.insert(**follow))

    # --- reports to managers -----------------------------------------------------------------
    async def _report(self, guild_id: int, text: str, fallback_channel: int | None = None) -> None:
        assert self.outbox is not None
        settings = await self.guild_settings.get(guild_id)
        channel_id = settings.announce_channel_id or fallback_channel
        if channel_id is None:
            log.warning("no announce channel in guild %s to report: %s", guild_id, text)
            return
        try:
            await self.outbox.post(channel_id, text)
        except SendFailed as error:
            log.warning("could not report to managers of guild %s: %s", guild_id, error)

    async def _report_missed(self, guild_id: int, rows: list[ScheduledSend]) -> None:
        described = [(row, await self.describe(row)) for row in rows]
        fallback = next((row.channel_id for row in rows if row.channel_id), None)
        await self._report(guild_id, render.missed_report(described, self.grace_hours), fallback)

    async def describe(self, row: ScheduledSend) -> str:
        if row.kind == "announcement":
            text = " ".join((row.message or "").split())
            short = text if len(text) <= 60 else text[:57] + "…"
            return f"the announcement “{short}” for <#{row.channel_id}>"
        drop = await self.drops.get_any(row.drop_id) if row.drop_id is not None else None
        name = f"**{drop.name}**" if drop else "a deleted drop"
        if row.kind == "countdown":
            return f"the {render._duration(row.offset_seconds)} countdown post of {name}"
        if row.kind == "opening":
            return f"the opening post of {name}"
        when = "opening" if row.offset_seconds == 0 else render._duration(row.offset_seconds)
        return f"the {when} reminder DMs of {name}"

    async def _channel_of(self, row: ScheduledSend) -> int | None:
        if row.kind == "announcement" or row.drop_id is None:
            return row.channel_id
        drop = await self.drops.get_any(row.drop_id)
        return drop.channel_id if drop else row.channel_id

    # --- announcements -----------------------------------------------------------------------
    async def draft_announcement(
        self,
        guild_id: int,
        channel_id: int,
        message: str,
        due_at: datetime,
        zone_name: str,
        repeat: str | None,
        created_by: int,
    ) -> ScheduledSend:
        """Validate and store an announcement as a draft; nothing fires until confirmed."""
        text = message.strip()
        if not text:
            raise UserError("The announcement is empty; write the message to post.")
        if len(text) > render.MAX_ANNOUNCEMENT:
            raise UserError(
                f"That message is {len(text):,} characters; keep it to "
                f"{render.MAX_ANNOUNCEMENT:,} or fewer."
            )
        if repeat is not None and repeat not in REPEAT_STEPS:
            raise UserError(f"{repeat!r} is not a repeat; use daily or weekly, or leave it empty.")
        if due_at <= utcnow():
            raise UserError(
                f"That time ({discord_timestamp(due_at)}) is in the past; pick a time that is "
                "still to come."
            )
        tz = zone(zone_name)
        wall_clock = due_at.astimezone(tz).strftime(LOCAL_FORMAT)
        return await self.store.insert(
            guild_id=guild_id,
            kind="announcement",
            channel_id=channel_id,
            due_at=due_at,
            message=text,
            timezone=tz.key,
            wall_clock=wall_clock,
            repeat=repeat,
            created_by=created_by,
            state=DRAFT,
        )

    async def confirm(self, send_id: int, user_id: int) -> ScheduledSend:
        draft = await self.store.get(send_id)
        if draft is None or draft.created_by != user_id:
            raise UserError("That preview isn't yours to confirm; run /announce schedule yourself.")
        if draft.state != DRAFT:
            raise UserError(f"That announcement is already {draft.state}.")
        if draft.due_at <= utcnow():
            await self.store.transition(send_id, (DRAFT,), CANCELLED)
            raise UserError(
                "Its time has passed while the preview was open; run /announce schedule again."
            )
        row = await self.store.transition(send_id, (DRAFT,), PENDING)
        if row is None:
            raise UserError("That announcement was already confirmed or discarded.")
        self._schedule(row)
        return row

    async def discard(self, send_id: int, user_id: int) -> None:
        draft = await self.store.get(send_id)
        if draft is None or draft.created_by != user_id:
            raise UserError("That preview isn't yours to discard.")
        await self.store.transition(send_id, (DRAFT,), CANCELLED)

    async def add_announcement(
        self,
        guild_id: int,
        channel_id: int,
        message: str,
        due_at: datetime,
        *,
        zone_name: str = "UTC",
        repeat: str | None = None,
        wall_clock: str | None = None,
        created_by: int | None = None,
    ) -> ScheduledSend:
        """Schedule at once, to the second (demos, benchmarks, tests; managers get a preview)."""
        if wall_clock is None:
            wall_clock = due_at.astimezone(zone(zone_name)).strftime(LOCAL_FORMAT)
        row = await self.store.insert(
            guild_id=guild_id,
            kind="announcement",
            channel_id=channel_id,
            due_at=due_at,
            message=message,
            timezone=zone_name,
            wall_clock=wall_clock,
            repeat=repeat,
            created_by=created_by,
        )
        self._schedule(row)
        return row

    async def pending(self, guild_id: int) -> list[ScheduledSend]:
        return await self.store.guild_pending(guild_id, ("announcement", "countdown", "opening"))

    async def cancel_announcement(self, guild_id: int, send_id: int) -> ScheduledSend:
        row = await self.store.cancel_announcement(guild_id, send_id)
        self._unschedule(row.id)
        return row

    @staticmethod
    def local_time(row: ScheduledSend) -> str:
        return format_local(row.due_at, row.timezone or "UTC")

    # --- drops -------------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, int]]:
        """(kind, seconds before opening) of every send a drop gets."""
        seconds = [int(offset.total_seconds()) for offset in self.countdown_offsets]
        reminders = [int(offset.total_seconds()) for offset in self.reminder_offsets]
        return (
            [("countdown", value) for value in seconds if value > 0]
            + [("opening", 0)]
            + [("reminder", value) for value in reminders]
        )

    async def sync_drop(self, drop_id: int, plan: Iterable[tuple[str, int]] | None = None) -> None:
        """Bring a drop's rows in line with the drop: create, move or cancel them.

        Offsets already past are skipped; a countdown already sent for this very opening time
        is not sent again, but one sent for an earlier time is, if the drop was postponed.
        """
        drop = await self.drops.get_any(drop_id)
        if drop is None:
            return
        plan = list(self.plan() if plan is None else plan)
        now = utcnow()
        changed: list[ScheduledSend] = []
        removed: list[int] = []
        async with self.store.write() as connection:
            rows = await self.store.drop_rows(connection, drop.id)
            pending: dict[tuple[str, int], ScheduledSend] = {}
            for row in rows:
                if row.state != PENDING:
                    continue
                if (row.kind, row.offset_seconds) in pending:
                    removed.append(row.id)  # a stray duplicate
                else:
                    pending[(row.kind, row.offset_seconds)] = row
            if drop.status == "scheduled":
                done = {
                    (row.kind, row.offset_seconds, row.due_at)
                    for row in rows
                    if row.state in (SENDING, SENT)
                }
                for kind, offset in plan:
                    due = drop.starts_at - timedelta(seconds=offset)
                    existing = pending.pop((kind, offset), None)
                    if (offset > 0 and due <= now) or (kind, offset, due) in done:
                        if existing is not None:
                            removed.append(existing.id)
                        continue
                    if existing is None:
                        changed.append(
                            await self.store.insert(
                                connection,
                                guild_id=drop.guild_id,
                                kind=kind,
                                drop_id=drop.id,
                                channel_id=drop.channel_id,
                                due_at=due,
                                offset_seconds=offset,
                            )
                        )
                    elif existing.due_at != due or existing.channel_id != drop.channel_id:
                        moved = await self.store._transition(
                            connection,
                            existing.id,
                            (PENDING,),
                            PENDING,
                            due_at=due,
                            channel_id=drop.channel_id,
                        )
                        if moved is not None:
                            changed.append(moved)
                removed.extend(row.id for row in pending.values())
            elif drop.status == "live":
                # Opened (perhaps early): a countdown would now be wrong; the rest stays.
                removed.extend(row.id for row in pending.values() if row.kind == "countdown")
            else:
                removed.extend(row.id for row in pending.values())
            for send_id in removed:
                await self.store._transition(connection, send_id, (PENDING,), CANCELLED)
        for send_id in removed:
            self._unschedule(send_id)
        for row in changed:
            self._schedule(row)

    async def drop_sends(self, drop_id: int) -> list[ScheduledSend]:
        async with self.store.database.read() as connection:
            return await self.store.drop_rows(connection, drop_id)

    async def stop_reminders(self, drop_id: int, user_id: int) -> Drop | None:
        await self.store.stop_reminders(drop_id, user_id)
        return await self.drops.get_any(drop_id)
