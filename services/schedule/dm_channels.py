"""Opening fans' DM channels, slowly, off the reminder path.

Discord answers 403 with code 40003 ("You are opening direct messages too fast") when a bot
opens new DM channels quickly, and publishes no number for it; the sandbox models it as 10 new
channels per 10 s (``docs/sandbox.md``). So new channels are opened by this one task at
``opens_per_second`` (0.8 by default, under that model with room to spare), while DMs to fans
whose channel is known go out at the full pace. A channel is remembered (``dm_channels``), so a
fan's second reminder costs no open at all, and fans who press Remind me get theirs opened
right away, long before the first reminder is due.

40003 and 429 mean "later": the fan goes to the back with a pause, and no attempt is counted.
Only 50007 means the fan's DMs are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from services.schedule.outbox import CLOSED_DMS, Outbox, SendFailed, Unreachable
from services.schedule.pacing import Pacer
from storage.reminders import ReminderStore
from storage.states import DeliveryState

log = logging.getLogger("dropbell.schedule.dm")

LATER_PAUSE = 10.0
MAX_FAILURES = 5


class DMChannelOpener:
    def __init__(
        self,
        store: ReminderStore,
        global_pacer: Pacer,
        opens_per_second: float,
        deliver: Callable[[Iterable[int]], None],
    ) -> None:
        self.store = store
        self.global_pacer = global_pacer
        self.pacer = Pacer(opens_per_second)
        self.deliver = deliver
        self.outbox: Outbox | None = None
        # user id -> the deliveries waiting for that fan's channel (maybe none: a warm-up)
        self._waiting: dict[int, set[int]] = {}
        self._failures: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._task = asyncio.create_task(self._run(), name="dropbell-dm-opener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def request(self, user_id: int, delivery_ids: Iterable[int] = ()) -> None:
        """Open this fan's DM channel, then hand these deliveries back to the queue."""
        self._waiting.setdefault(user_id, set()).update(delivery_ids)
        self._wake.set()

    def waiting_deliveries(self) -> set[int]:
        """The deliveries handed here that wait for their fan's channel to open."""
        return {delivery for waiting in self._waiting.values() for delivery in waiting}

    @property
    def backlog(self) -> int:
        return len(self._waiting)

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            user_id = next(iter(self._waiting))
            deliveries = self._waiting.pop(user_id)
            try:
                await self._open(user_id, deliveries)
            except Exception:
                log.exception("could not open the DM channel of fan %s", user_id)

    async def _open(self, user_id: int, deliveries: set[int]) -> None:
        assert self.outbox is not None
        if await self.store.dm_channel(user_id) is None:
            await self.pacer.wait()
            await self.global_pacer.wait()
            try:
                channel_id = await self.outbox.open_dm(user_id)
            except Unreachable:
                await self.store.record_unreachable(user_id, CLOSED_DMS, delivery_ids=deliveries)
                return
            except SendFailed as error:
                await self._failed(user_id, deliveries, error)
                return
            await self.store.remember_dm_channel(user_id, channel_id)
        self._failures.pop(user_id, None)
        self.deliver(deliveries)

    async def _failed(self, user_id: int, deliveries: set[int], error: SendFailed) -> None:
        failures = self._failures.get(user_id, 0) + (0 if error.later else 1)
        self._failures[user_id] = failures
        if error.permanent or failures >= MAX_FAILURES:
            log.warning("giving up opening the DM channel of fan %s: %s", user_id, error.text)
            self._failures.pop(user_id, None)
            for delivery_id in deliveries:
                await self.store.finish_delivery(delivery_id, DeliveryState.FAILED)
            return
        log.info(
            "opening DMs: %s (code %s); fan %s waits a little", error.text, error.code, user_id
        )
        # Pause the opener itself: a "too fast" is about the bot, not this fan.
        await asyncio.sleep(LATER_PAUSE)
        self.request(user_id, deliveries)
