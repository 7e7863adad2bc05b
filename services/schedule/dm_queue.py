"""One queue for every reminder DM, paced under Discord's global limit.

Why pace on our side at all: Discord's global limit (about 50 requests/s per bot) sends no
headers until it is exceeded, and every 429 counts toward the invalid-request ban. So the queue
spends at most ``share`` of the global budget, spread evenly (never a burst), and leaves the rest
for everything else the bot does. Per-route limits come with headers, which discord.py's HTTP
client already honours (it waits on a bucket at ``X-RateLimit-Remaining: 0`` and retries a 429
after ``retry_after``); a 429 that survives its retries puts the DM back in the queue.

A closed-DM failure (50007) is never retried: the fan is recorded as unreachable and skipped
until they opt in again. The DB is the queue's truth: a DM is claimed (pending -> sending) right
before it is sent, so a shutdown leaves unsent DMs pending and a restart picks them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from services import metrics
from services.schedule import render
from services.schedule.dm_channels import DMChannelOpener
from services.schedule.outbox import CLOSED_DMS, Outbox, SendFailed, Unreachable
from services.schedule.pacing import Pacer
from storage.drops import Drop
from storage.reminders import Delivery, ReminderStore
from storage.states import DeliveryState, DropStatus, SendKind

PENDING, SENT, FAILED = DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.FAILED
SKIPPED = DeliveryState.SKIPPED

log = logging.getLogger("dropbell.schedule.dm")

DEFAULT_GLOBAL_LIMIT = 50.0
DEFAULT_SHARE = 0.95
DEFAULT_OPENS_PER_SECOND = 0.8
MAX_ATTEMPTS = 5
RETRY_DELAY = 5.0
LATER_DELAY = 10.0


class DMQueue:
    def __init__(
        self,
        store: ReminderStore,
        get_drop: Callable[[int], Awaitable[Drop | None]],
        *,
        per_second: float = DEFAULT_GLOBAL_LIMIT * DEFAULT_SHARE,
        opens_per_second: float = DEFAULT_OPENS_PER_SECOND,
        workers: int = 8,
    ) -> None:
        self.store = store
        self.get_drop = get_drop
        self.pacer = Pacer(per_second)
        self.opener = DMChannelOpener(store, self.pacer, opens_per_second, self.submit)
        self.worker_count = workers
        self.outbox: Outbox | None = None
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._later: set[asyncio.Task[None]] = set()
        self._retrying: set[int] = set()
        self._closing = False

    async def start(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._closing = False
        self.opener.start(outbox)
        self._workers = [
            asyncio.create_task(self._work(), name=f"dropbell-dm-{index}")
            for index in range(self.worker_count)
        ]
        await self._recover()
        self.submit(delivery.id for delivery in await self.store.deliveries_in(PENDING))

    async def _recover(self) -> None:
        """DMs left "sending" by a crash: sent if their marker is in the DM, else pending."""
        assert self.outbox is not None
        for delivery in await self.store.deliveries_in(DeliveryState.SENDING):
            channel_id = await self.store.dm_channel(delivery.user_id)
            found = None
            if channel_id is not None:
                try:
                    found = await self.outbox.find_marker(
                        channel_id, render.marker_pattern(delivery.marker)
                    )
                except SendFailed as error:
                    log.warning("could not check DM %s after a restart: %s", delivery.id, error)
                    await self.store.finish_delivery(delivery.id, DeliveryState.UNCERTAIN)
                    continue
            await self.store.finish_delivery(delivery.id, SENT if found else PENDING, found)

    async def sweep(self) -> None:
        """Queue the pending DMs another bot process owed (a restock after its webhook); not
        those waiting for a retry or for their channel to open here."""
        if self.outbox is None or self._closing:
            return
        waiting = self._retrying | self.opener.waiting_deliveries()
        self.submit(
            delivery.id
            for delivery in await self.store.deliveries_in(PENDING)
            if delivery.id not in waiting
        )

    def warm(self, user_id: int) -> None:
        """Open this fan's DM channel now, slowly, so their reminders need no open later."""
        if self.outbox is not None and not self._closing:
            self.opener.request(user_id)

    def submit(self, delivery_ids: Iterable[int]) -> None:
        for delivery_id in delivery_ids:
            if delivery_id not in self._queued and not self._closing:
                self._queued.add(delivery_id)
                self._queue.put_nowait(delivery_id)

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the DMs in flight; leave the rest pending in the database."""
        self._closing = True
        await self.opener.stop()
        for task in self._later:
            task.cancel()
        for task in self._workers:
            if task not in self._busy:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._workers, return_exceptions=True), timeout)
        self._workers = []

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._closing:
            delivery_id = await self._queue.get()
            self._busy.add(task)
            try:
                self._queued.discard(delivery_id)
                await self._deliver(delivery_id)
            except Exception:
                log.exception("reminder DM %s failed unexpectedly", delivery_id)
            finally:
                self._busy.discard(task)
                self._queue.task_done()

    async def _deliver(self, delivery_id: int) -> None:
        assert self.outbox is not None
        if self._closing:
            return
        delivery = await self.store.claim_delivery(delivery_id)
        if delivery is None:
            return
        drop = await self.get_drop(delivery.drop_id)
        opened = drop is not None and drop.status != DropStatus.SCHEDULED
        late = delivery.offset_seconds > 0 and opened
        if delivery.kind == SendKind.POLL_DROP:
            late = False  # "you are on its line": true as long as the drop is open
        elif delivery.kind != SendKind.REMINDER:
            late = drop is None or drop.status != DropStatus.LIVE  # news of a live drop only
        if drop is None or not drop.is_open or late:
            # A "opens in an hour" that could only arrive after the opening is not sent.
            await self.store.finish_delivery(delivery.id, SKIPPED)
            return
        channel_id = await self.store.dm_channel(delivery.user_id)
        if channel_id is None:
            # Opening a channel has its own, much slower pace: hand the DM to the opener, which
            # gives it back once the channel exists; meanwhile known channels keep going.
            await self.store.release_delivery(delivery.id)
            self.opener.request(delivery.user_id, [delivery.id])
            return
        # The slot is taken right before the request, after the database work: taken before it,
        # uneven round trips bunched requests past Discord's global limit (429s in
        # reminder_fanout, more on PostgreSQL). The workers bound the rows claimed meanwhile.
        await self.pacer.wait()
        if self._closing:  # stopping: back to pending, for the next start
            await self.store.release_delivery(delivery.id)
            return
        try:
            message_id = await self.outbox.dm(
                channel_id, render.dm_for(delivery, drop), delivery.drop_id
            )
        except Unreachable:
            metrics.REMINDER_DMS.labels(outcome="unreachable").inc()
            await self.store.record_unreachable(
                delivery.user_id, CLOSED_DMS, delivery_ids=[delivery.id]
            )
            log.info("fan %s has closed DMs; recorded, not retried", delivery.user_id)
            return
        except SendFailed as error:
            await self._failed(delivery, error)
            return
        metrics.REMINDER_DMS.labels(outcome="sent").inc()
        await self.store.finish_delivery(delivery.id, SENT, message_id)

    async def _failed(self, delivery: Delivery, error: SendFailed) -> None:
        if error.later:
            # Discord asked for a pause: not a failed attempt, just later.
            await self.store.release_delivery(delivery.id)
            self._retry_after(delivery.id, LATER_DELAY)
            return
        if error.permanent or delivery.attempts >= MAX_ATTEMPTS:
            metrics.REMINDER_DMS.labels(outcome="failed").inc()
            log.warning("reminder DM %s failed for good: %s", delivery.id, error.text)
            await self.store.finish_delivery(delivery.id, FAILED)
            return
        # Back to pending and into the queue again a little later.
        await self.store.finish_delivery(delivery.id, PENDING)
        self._retry_after(delivery.id, RETRY_DELAY)

    def _retry_after(self, delivery_id: int, delay: float) -> None:
        task = asyncio.create_task(self._retry_later(delivery_id, delay))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _retry_later(self, delivery_id: int, delay: float) -> None:
        self._retrying.add(delivery_id)
        try:
            await asyncio.sleep(delay)
        finally:
            self._retrying.discard(delivery_id)
        self.submit([delivery_id])
