"""At start, rebuild the schedule from the table and settle what a crash or downtime left.

- A row left ``sending`` by a crash: was it posted? We read the channel's recent messages
  (the last 100) and look for its marker: found means it was posted (we record that message),
  absent means the POST never reached Discord (the row goes back to pending and is sent). We
  chose this over marking the row "uncertain" because it needs no human in the common case and
  cannot double-post: a post is only repeated when it is provably not in the channel. Only when
  the history cannot be read (lost permission, Discord down) is the row marked ``uncertain``
  and the managers told.
- Rows overdue by less than the grace window (``scheduler.grace_hours``) are sent at once;
  older ones are marked missed and reported to the managers in the announce channel.
- A preview (draft) nobody confirmed within the interaction's lifetime is dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from services.drops.service import DropService
from services.localtime import utcnow
from services.schedule import render
from services.schedule.firing import Sender
from services.schedule.jobs import JobCache
from services.schedule.outbox import SendFailed
from services.schedule.reports import ManagerReports
from storage.schedule import ScheduledSend, SendStore
from storage.states import SendKind, SendState

log = logging.getLogger("dropbell.schedule")


class Recovery:
    def __init__(
        self,
        *,
        sends: SendStore,
        drops: DropService,
        sender: Sender,
        jobs: JobCache,
        reports: ManagerReports,
        grace: timedelta,
    ) -> None:
        self.sends = sends
        self.drops = drops
        self.sender = sender
        self.jobs = jobs
        self.reports = reports
        self.grace = grace

    async def run(self) -> None:
        now = utcnow()
        for row in await self.sends.in_states(SendState.SENDING):
            await self._settle_sending(row)
        for row in await self.sends.in_states(SendState.DRAFT):
            if row.due_at < now or row.created_by is None:
                await self.sends.transition(row.id, (SendState.DRAFT,), SendState.CANCELLED)
        missed: dict[int, list[ScheduledSend]] = defaultdict(list)
        for row in await self.sends.in_states(SendState.PENDING):
            # A feature's own sends (a poll's closing) are never skipped: late results are
            # still the results.
            if row.due_at >= now - self.grace or row.kind in self.sender.handlers:
                self.jobs.schedule(row)
                continue
            done = await self.sends.transition(row.id, (SendState.PENDING,), SendState.MISSED)
            if done is not None:
                missed[done.guild_id].append(done)
                await self._after_missed(done)
        for guild_id, rows in missed.items():
            await self.reports.missed(guild_id, rows)

    async def _settle_sending(self, row: ScheduledSend) -> None:
        channel_id = await self._channel_of(row)
        if channel_id is None:
            await self.sends.transition(row.id, (SendState.SENDING,), SendState.PENDING)
            return
        try:
            found = await self.sender.outbox.find_marker(
                channel_id, render.marker_pattern(row.marker)
            )
        except SendFailed as error:
            log.warning("send %s: could not read channel %s: %s", row.id, channel_id, error)
            await self.sends.transition(row.id, (SendState.SENDING,), SendState.UNCERTAIN)
            await self.reports.uncertain(row, channel_id)
            return
        if found is None:
            log.info("send %s was not posted before the restart; sending it now", row.id)
            await self.sends.transition(row.id, (SendState.SENDING,), SendState.PENDING)
            return
        log.info("send %s was already posted (message %s) before the restart", row.id, found)
        await self.sender.record_sent(row, found)

    async def _after_missed(self, row: ScheduledSend) -> None:
        # A missed opening still opens the drop; only the late post is skipped.
        if row.kind == SendKind.OPENING and row.drop_id is not None:
            await self.drops.open(row.drop_id)
        await self.sender.schedule_next(row)

    async def _channel_of(self, row: ScheduledSend) -> int | None:
        if row.kind == SendKind.ANNOUNCEMENT or row.drop_id is None:
            return row.channel_id
        drop = await self.drops.get_any(row.drop_id)
        return drop.channel_id if drop else row.channel_id
