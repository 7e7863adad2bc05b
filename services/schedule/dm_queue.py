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
from services.schedule.outbox import Outbox, SendFailed, Unreachable
from storage.drops import Drop
from storage.reminders import Delivery, ReminderStore
from storage.states import DeliveryState

PENDING, SENT, FAILED = DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.FAILED
SKIPPED = DeliveryState.SKIPPED

log = logging.getLogger("dropbell.schedule.dm")

DEFAULT_GLOBAL_LIMIT = 50.0
DEFAULT_SHARE = 0.95
MAX_ATTEMPTS = 5
RETRY_DELAY = 5.0


class Pacer:
    """Hands out evenly spaced send slots: at most ``rate`` per second, never bunched."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class DMQueue:
    def __init__(
        self,
        store: ReminderStore,
        get_drop: Callable[[int], Awaitable[Drop | None]],
        *,
        per_second: float = DEFAULT_GLOBAL_LIMIT * DEFAULT_SHARE,
        workers: int = 8,
    ) -> None:
        self.store = store
        self.get_drop = get_drop
        self.pacer = Pacer(per_second)
        self.worker_count = workers
        self.outbox: Outbox | None = None
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._later: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._closing = False
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

    def submit(self, delivery_ids: Iterable[int]) -> None:
        for delivery_id in delivery_ids:
            if delivery_id not in self._queued and not self._closing:
                self._queued.add(delivery_id)
                self._queue.put_nowait(delivery_id)

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the DMs in flight; leave the rest pending in the database."""
        self._closing = True
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
        await self.pacer.wait()
        if self._closing:
            return
        delivery = await self.store.claim_delivery(delivery_id)
        if delivery is None:
            return
        drop = await self.get_drop(delivery.drop_id)
        if drop is None or not drop.is_open:
            await self.store.finish_delivery(delivery.id, SKIPPED)
            return
        try:
            channel_id = await self.store.dm_channel(delivery.user_id)
            if channel_id is None:
                channel_id = await self.outbox.open_dm(delivery.user_id)
                await self.store.remember_dm_channel(delivery.user_id, channel_id)
                await self.pacer.wait()
            message_id = await self.outbox.dm(
                channel_id, render.reminder_dm(delivery, drop), delivery.drop_id
            )
        except Unreachable:
            metrics.REMINDER_DMS.labels(outcome="unreachable").inc()
            await self.store.record_unreachable(delivery.id, delivery.user_id, 50007)
            log.info("fan %s has closed DMs; recorded, not retried", delivery.user_id)
            return
        except SendFailed as error:
            await self._failed(delivery, error)
            return
        metrics.REMINDER_DMS.labels(outcome="sent").inc()
        await self.store.finish_delivery(delivery.id, SENT, message_id)

    async def _failed(self, delivery: Delivery, error: SendFailed) -> None:
        if error.permanent or delivery.attempts >= MAX_ATTEMPTS:
            metrics.REMINDER_DMS.labels(outcome="failed").inc()
            log.warning("reminder DM %s failed for good: %s", delivery.id, error.text)
            await self.store.finish_delivery(delivery.id, FAILED)
            return
        # Back to pending and into the queue again a little later.
        await self.store.finish_delivery(delivery.id, PENDING)
        task = asyncio.create_task(self._retry_later(delivery.id))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _retry_later(self, delivery_id: int) -> None:
        await asyncio.sleep(RETRY_DELAY)
        self.submit([delivery_id])
