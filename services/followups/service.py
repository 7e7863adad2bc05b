"""Sending the thank-you DMs, off the webhook's hot path, through the reminders' DM machinery.

The webhook only writes the row (in the payment's transaction, :mod:`storage.followups`) and
wakes this sender; the DM goes out later, in the same budget as reminder DMs (the DM queue's
pacer, under Discord's global limit) and opening a DM channel at the opener's slow pace. A
known channel (``dm_channels``) is reused, and a fan recorded in ``dm_unreachable`` is not
tried. Each DM is claimed (pending -> sending) right before it is sent; at start, one left
"sending" by a crash is settled as a reminder delivery is: sent if its marker is in the fan's
DMs, pending if not, uncertain (never retried) if the DMs could not be read. So a purchase's DM
goes out at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Protocol

from services.followups.wording import join_label, thank_you_dm
from services.schedule import render
from services.schedule.dm_queue import LATER_DELAY, MAX_ATTEMPTS, RETRY_DELAY, DMQueue
from services.schedule.outbox import CLOSED_DMS, SendFailed, Unreachable
from storage.followups import Followup, FollowupStore, marker_of
from storage.orders import Applied, Outcome
from storage.reminders import ReminderStore
from storage.states import DeliveryState

log = logging.getLogger("dropbell.followups")

SENT, PENDING, FAILED = DeliveryState.SENT, DeliveryState.PENDING, DeliveryState.FAILED
STOP_TIMEOUT = 10.0


class FollowupOutbox(Protocol):
    """The Discord side the sender needs; the cog implements it with discord.py."""

    def server_name(self, guild_id: int) -> str | None: ...

    async def open_dm(self, user_id: int) -> int: ...

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None: ...

    async def thank(self, channel_id: int, content: str, join: tuple[int, str] | None) -> int:
        """Send the DM, with a Join button for ``join`` = (drop id, label); the message id."""
        ...


class PurchaseFollowups:
    def __init__(self, store: FollowupStore, reminders: ReminderStore, dm_queue: DMQueue) -> None:
        self.store = store
        self.reminders = reminders
        # One DM budget for the bot: these DMs share the reminders' pace, and new DM channels
        # the opener's (Discord's 40003 is about the bot, not about which feature opens).
        self.pacer = dm_queue.pacer
        self.open_pacer = dm_queue.opener.pacer
        self.outbox: FollowupOutbox | None = None
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._later: set[asyncio.Task[None]] = set()
        self._retrying: set[int] = set()
        self._closing = False
        self._started = asyncio.Event()

    # --- the webhook's side: one wake-up, nothing awaited on Discord ---------------------------
    async def order_applied(self, applied: Applied) -> None:
        if applied.claim_id is not None and applied.outcome in (Outcome.PAID, Outcome.LATE_PAID):
            self.wake(applied.claim_id)

    def wake(self, claim_id: int) -> None:
        """A follow-up may be owed for this claim: send it soon (nothing if none is pending)."""
        if self.outbox is None or self._closing or claim_id in self._queued:
            return
        self._queued.add(claim_id)
        self._queue.put_nowait(claim_id)

    async def sweep(self) -> None:
        """Queue the follow-ups another bot process owed (a purchase whose webhook it took)."""
        if self.outbox is None or self._closing:
            return
        for claim_id, _ in await self.store.owed_in(PENDING):
            if claim_id not in self._retrying:
                self.wake(claim_id)

    # --- life -----------------------------------------------------------------------------------
    async def start(self, outbox: FollowupOutbox) -> None:
        self.outbox = outbox
        self._closing = False
        self._started.clear()
        self._task = asyncio.create_task(self._run(), name="dropbell-followups")

    async def stop(self) -> None:
        """Finish the DM in flight; leave the rest pending in the database."""
        self._closing = True
        for task in self._later:
            task.cancel()
        if self._task is None:
            return
        if not self._busy:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        if not self._task.done():
            self._task.cancel()
        self._task = None

    async def wait_started(self) -> None:
        """Until what the last run left was settled and the pending DMs were queued."""
        await self._started.wait()

    async def _run(self) -> None:
        try:
            self._busy = True
            await self._recover()
            for claim_id, _ in await self.store.owed_in(PENDING):
                self.wake(claim_id)
        except Exception:
            log.exception("could not settle the purchase follow-ups left by the last run")
        finally:
            self._busy = False
            self._started.set()
        while not self._closing:
            claim_id = await self._queue.get()
            self._busy = True
            try:
                self._queued.discard(claim_id)
                await self._send(claim_id)
            except Exception:
                log.exception("purchase follow-up %s failed unexpectedly", claim_id)
            finally:
                self._busy = False

    async def _recover(self) -> None:
        """DMs left "sending" by a crash: sent if their marker is in the DM, else pending; if
        the DM cannot be read, uncertain, so it is never sent twice."""
        assert self.outbox is not None
        for claim_id, user_id in await self.store.owed_in(DeliveryState.SENDING):
            channel_id = await self.reminders.dm_channel(user_id)
            found = None
            if channel_id is not None:
                try:
                    found = await self.outbox.find_marker(
                        channel_id, render.marker_pattern(marker_of(claim_id))
                    )
                except SendFailed as error:
                    log.warning("could not check follow-up %s after a restart: %s", claim_id, error)
                    await self.store.finish(claim_id, DeliveryState.UNCERTAIN)
                    continue
            await self.store.finish(claim_id, SENT if found else PENDING, found)

    # --- one DM ---------------------------------------------------------------------------------
    async def _send(self, claim_id: int) -> None:
        assert self.outbox is not None
        await self.pacer.wait()
        if self._closing:
            return
        followup = await self.store.claim(claim_id)
        if followup is None:
            return  # none owed, already sent, or the fan cannot or no longer wants to be DMed
        content = thank_you_dm(followup, self.outbox.server_name(followup.guild_id))
        join = followup.next_drop
        try:
            channel_id = await self._channel(followup.user_id)
            message_id = await self.outbox.thank(
                channel_id, content, (join.id, join_label(join)) if join else None
            )
        except Unreachable:
            # 50007: the fan's DMs are closed. Never retried: every try is an invalid request.
            await self.reminders.record_unreachable(followup.user_id, CLOSED_DMS)
            await self.store.finish(claim_id, DeliveryState.UNREACHABLE)
            log.info("fan %s has closed DMs; follow-up %s not sent", followup.user_id, claim_id)
            return
        except SendFailed as error:
            await self._failed(followup, error)
            return
        await self.store.finish(claim_id, SENT, message_id)

    async def _channel(self, user_id: int) -> int:
        """The fan's DM channel: remembered, or opened at the opener's pace (and remembered)."""
        assert self.outbox is not None
        channel_id = await self.reminders.dm_channel(user_id)
        if channel_id is None:
            await self.open_pacer.wait()
            await self.pacer.wait()
            channel_id = await self.outbox.open_dm(user_id)
            await self.reminders.remember_dm_channel(user_id, channel_id)
        return channel_id

    async def _failed(self, followup: Followup, error: SendFailed) -> None:
        if error.later:
            # Discord asked for a pause (40003, a 429): not a failed attempt, just later.
            await self.store.release(followup.claim_id)
            self._retry_after(followup.claim_id, LATER_DELAY)
            return
        if error.permanent or followup.attempts >= MAX_ATTEMPTS:
            log.warning("follow-up %s failed for good: %s", followup.claim_id, error.text)
            await self.store.finish(followup.claim_id, FAILED)
            return
        await self.store.finish(followup.claim_id, PENDING)
        self._retry_after(followup.claim_id, RETRY_DELAY)

    def _retry_after(self, claim_id: int, delay: float) -> None:
        task = asyncio.create_task(self._retry_later(claim_id, delay))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _retry_later(self, claim_id: int, delay: float) -> None:
        self._retrying.add(claim_id)
        try:
            await asyncio.sleep(delay)
        finally:
            self._retrying.discard(claim_id)
        self.wake(claim_id)
