"""Firing a due send, exactly once, in three steps:

1. claim the row with ``UPDATE … SET state='sending' WHERE id=? AND state='pending'``; whoever
   loses the race (a second job, a restart, a cancel) does nothing;
2. post the message, which ends with a marker line (``-# dropbell · ref S12``);
3. record the message id (``state='sent'``).

A crash between 1 and 3 leaves the row ``sending``; :mod:`recovery` settles it at the next
start by looking for the marker in the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from services import metrics
from services.drops.service import DropService
from services.localtime import utcnow
from services.schedule import render
from services.schedule.dm_queue import DMQueue
from services.schedule.jobs import JobCache
from services.schedule.outbox import Outbox, SendFailed
from services.schedule.reports import ManagerReports
from services.schedule.timing import next_occurrence
from storage.reminders import ReminderStore
from storage.schedule import ScheduledSend, SendStore
from storage.states import DM_SEND_KINDS, DropStatus, SendKind, SendState

# A job may run a moment before its row's time; more than this means the row was moved.
NOT_YET = timedelta(seconds=1)

log = logging.getLogger("dropbell.schedule")

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=30)
OPENING_PREP_SECONDS = 60.0
ROLE_MENTION = re.compile(r"<@&(\d+)>")
SENDING = (SendState.SENDING,)
# Posts worded in full when the row was written (an /announce text, a poll's goal).
TEXT_SEND_KINDS = (SendKind.ANNOUNCEMENT, SendKind.POLL_GOAL)

# A send another feature posts itself (a poll's closing): called once the row is claimed, it
# posts (ending with the row's marker line, so recovery can find it) and returns the message id,
# or None when there is nothing to post any more; SendFailed as for any post.
SendHandler = Callable[[ScheduledSend], Awaitable[int | None]]


def follow_up(row: ScheduledSend) -> dict[str, Any] | None:
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


class Sender:
    def __init__(
        self,
        *,
        sends: SendStore,
        reminders: ReminderStore,
        drops: DropService,
        outbox: Outbox,
        jobs: JobCache,
        dm_queue: DMQueue,
        reports: ManagerReports,
        handlers: dict[SendKind, SendHandler] | None = None,
    ) -> None:
        self.sends = sends
        self.reminders = reminders
        self.drops = drops
        self.outbox = outbox
        self.jobs = jobs
        self.dm_queue = dm_queue
        self.reports = reports
        self.handlers = handlers if handlers is not None else {}
        self.inflight: set[asyncio.Task[Any]] = set()
        self.stopping = False
        # Drop day's hook: fill the drop's link pool before its opening post (Services wires it).
        self.before_opening: Callable[[int], Awaitable[object]] | None = None

    async def fire(self, send_id: int, *, early: bool = False) -> None:
        """Send a due row once; ``early``: now, whatever its time (a /poll close)."""
        if self.stopping:
            return  # left pending: the next start sends it
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        try:
            await self._run(send_id, early)
        except Exception:
            log.exception("scheduled send %s failed", send_id)
        finally:
            if task is not None:
                self.inflight.discard(task)

    async def _run(self, send_id: int, early: bool) -> None:
        row = await self.sends.get(send_id)
        if row is None or row.state != SendState.PENDING:
            return
        if not early and row.due_at > utcnow() + NOT_YET:
            # Another bot process moved the row later since this job was cached (the leader
            # sweeps such changes in every 1.5 s): wait for its new time instead.
            self.jobs.schedule(row)
            return
        if row.kind in DM_SEND_KINDS:
            # Claim, fan out and mark sent in one transaction; the DMs follow from the queue.
            self.dm_queue.submit(await self.reminders.fan_out(send_id))
            return
        claimed = await self.sends.claim(send_id)
        if claimed is not None:
            await self._post(claimed)

    async def _post(self, row: ScheduledSend) -> None:
        handler = self.handlers.get(row.kind)
        if handler is not None:
            await self._post_by(handler, row)
            return
        drop = await self.drops.get_any(row.drop_id) if row.drop_id is not None else None
        ping_role_id: int | None = None
        claim_drop_id: int | None = None
        if row.kind in TEXT_SEND_KINDS:
            channel_id, content = row.channel_id, render.announcement(row)
            # Only a manager's /announce text may ping; a poll's goal post never does.
            announced = row.message if row.kind == SendKind.ANNOUNCEMENT else None
            mention = ROLE_MENTION.search(announced or "")
            ping_role_id = int(mention.group(1)) if mention else None
        elif (
            drop is None
            or not drop.is_open
            or (row.kind == SendKind.COUNTDOWN and drop.status != DropStatus.SCHEDULED)
        ):
            await self.sends.transition(row.id, SENDING, SendState.CANCELLED)
            return
        elif row.kind == SendKind.COUNTDOWN:
            channel_id, content = drop.channel_id, render.countdown(row, drop)
        else:  # the opening turns the drop live (the announcement and schedule follow)
            if drop.product and self.before_opening is not None:
                # Links first (a drop opened early by /drop open has none yet): bounded, so a
                # shop that is down delays the opening a little, never forever.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.before_opening(drop.id), OPENING_PREP_SECONDS)
            drop = await self.drops.open(drop.id) or drop
            channel_id, content = drop.channel_id, render.opening(row, drop)
            ping_role_id = drop.ping_role_id
            claim_drop_id = drop.id if drop.product else None
        try:
            if channel_id is None:
                raise SendFailed("no channel", permanent=True)
            message_id = await self.outbox.post(
                channel_id, content, ping_role_id=ping_role_id, claim_drop_id=claim_drop_id
            )
        except SendFailed as error:
            await self._post_failed(row, channel_id, error)
            return
        metrics.scheduled_post(row.kind, row.due_at, utcnow())
        await self.record_sent(row, message_id)

    async def _post_by(self, handler: SendHandler, row: ScheduledSend) -> None:
        try:
            message_id = await handler(row)
        except SendFailed as error:
            await self._post_failed(row, row.channel_id, error)
            return
        if message_id is None:
            await self.sends.transition(row.id, SENDING, SendState.CANCELLED)
            return
        metrics.scheduled_post(row.kind, row.due_at, utcnow())
        await self.record_sent(row, message_id)

    async def record_sent(self, row: ScheduledSend, message_id: int) -> None:
        """Step 3; a repeat's next occurrence is written in the same transaction."""
        next_row = await self.sends.mark_sent(row.id, message_id, follow_up(row))
        if next_row is not None:
            self.jobs.schedule(next_row)

    async def _post_failed(
        self, row: ScheduledSend, channel_id: int | None, error: SendFailed
    ) -> None:
        if not error.permanent and row.attempts < MAX_ATTEMPTS:
            log.warning("send %s failed (%s); trying again shortly", row.id, error.text)
            retried = await self.sends.transition(
                row.id, SENDING, SendState.PENDING, due_at=utcnow() + RETRY_AFTER
            )
            if retried is not None:
                self.jobs.schedule(retried)
            return
        log.warning("send %s failed for good: %s", row.id, error.text)
        await self.sends.transition(row.id, SENDING, SendState.FAILED)
        await self.reports.failed(row, channel_id, error.text)
        await self.schedule_next(row)

    async def schedule_next(self, row: ScheduledSend) -> None:
        """A repeat goes on after an occurrence that failed or was missed."""
        follow = follow_up(row)
        if follow is not None:
            self.jobs.schedule(await self.sends.insert(**follow))
