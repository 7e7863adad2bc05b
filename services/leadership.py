"""Background work runs in exactly one bot process at a time: the leader.

Several bot processes (shards) may share one PostgreSQL database. Anything may be asked of any
of them (commands, buttons, shop webhooks: each a transaction, safe anywhere), but the work that
runs by itself — the scheduled sends, drop day's keeper, the role queue, the DM queue, the
purchase follow-ups — runs only in the process holding the leader lock. The others ask for the
lock every ``POLL_SECONDS``; when the leader dies its lock goes with its connection and one of
them takes over within that time, starting every duty, whose start settles what the dead
leader left half-done (each duty is exactly-once per row by its own claim).

Work written by a follower (a drop created through it, a DM owed after a webhook it took) is
in the database at once; the leader finds it within ``POLL_SECONDS`` by sweeping each duty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("dropbell.leader")

POLL_SECONDS = 1.5


class LeaderLock(Protocol):
    @property
    def shared(self) -> bool: ...

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


Step = Callable[[], Awaitable[None]]


@dataclass
class Duty:
    name: str
    start: Step
    stop: Step
    # Finds work other processes wrote since the last look (only when other processes exist).
    sweep: Step | None = None
    running: bool = False


class Leadership:
    def __init__(self, lock: LeaderLock, poll_seconds: float = POLL_SECONDS) -> None:
        self.lock = lock
        self.poll_seconds = poll_seconds
        # A database no other process can use (SQLite): this process leads from the start.
        self.leading = not lock.shared
        self._duties: dict[str, Duty] = {}
        self._task: asyncio.Task[None] | None = None
        self._changing = asyncio.Lock()

    async def begin(self) -> None:
        """Ask once now (so the first process leads before its features load), then keep
        asking in the background."""
        if self.lock.shared and not self.leading:
            await self._try_to_lead()
        if self.lock.shared and self._task is None:
            self._task = asyncio.create_task(self._run(), name="dropbell-leadership")

    async def take_on(self, name: str, start: Step, stop: Step, sweep: Step | None = None) -> None:
        """A duty for the leader: started now if this process leads, else when it comes to."""
        duty = Duty(name, start, stop, sweep)
        async with self._changing:
            self._duties[name] = duty
            if self.leading:
                await self._start(duty)

    async def give_up(self, name: str) -> None:
        async with self._changing:
            duty = self._duties.pop(name, None)
            if duty is not None and duty.running:
                await self._stop(duty)

    async def end(self) -> None:
        """Stop asking, stop every duty still running, and let the lock go."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._changing:
            for duty in reversed(list(self._duties.values())):
                if duty.running:
                    await self._stop(duty)
            if self.leading:
                self.leading = False
                await self.lock.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                if not self.leading:
                    await self._try_to_lead()
                elif not await self.lock.still_held():
                    await self._step_down()
                elif self.lock.shared:
                    await self._sweep()
            except Exception:
                log.exception("leadership check failed; trying again")

    async def _try_to_lead(self) -> None:
        if not await self.lock.try_acquire():
            return
        async with self._changing:
            self.leading = True
            if self.lock.shared:
                log.info("this process now leads: starting the background work")
            for duty in list(self._duties.values()):
                await self._start(duty)

    async def _step_down(self) -> None:
        log.warning("leadership lost: stopping the background work")
        async with self._changing:
            self.leading = False
            for duty in reversed(list(self._duties.values())):
                if duty.running:
                    await self._stop(duty)

    async def _sweep(self) -> None:
        for duty in list(self._duties.values()):
            if duty.running and duty.sweep is not None:
                try:
                    await duty.sweep()
                except Exception:
                    log.exception("sweeping %s failed", duty.name)

    async def _start(self, duty: Duty) -> None:
        await duty.start()
        duty.running = True

    async def _stop(self, duty: Duty) -> None:
        duty.running = False
        try:
            await duty.stop()
        except Exception:
            log.exception("stopping %s failed", duty.name)
