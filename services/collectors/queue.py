"""The role queue: pending ``role_changes`` rows handed to Discord off the webhook's hot path.

The table is the queue, so a restart loses nothing: the first round after start takes up
whatever is pending. A change may be sent twice if the bot stops between Discord's answer and
the row's update (at-least-once); adding a role a member holds, or removing one they lack, is
harmless, so that is acceptable.

Pace: each round takes a few changes per server, servers side by side (one task each, at most
``PARALLEL_GUILDS``), a server's own changes one after another. discord.py waits out Discord's
per-server role bucket and any 429, so one server's burst only slows that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from itertools import groupby
from typing import Protocol

from services.collectors import wording
from services.localtime import utcnow
from storage.collectors import (
    MISSING_PERMISSIONS,
    CollectorStore,
    RoleChange,
    RoleChangeState,
    RoleNotice,
)

log = logging.getLogger("dropbell.collectors")

UNKNOWN_MEMBER = 10007
UNKNOWN_ROLE = 10011
PER_GUILD = 5
ROUND = 200
PARALLEL_GUILDS = 8
POLL_SECONDS = 60.0  # the slow poll, beside the wake-ups when rows are inserted
RETRY_SECONDS = 5.0  # after a transient failure (Discord 5xx, a network error)
MAX_ATTEMPTS = 5

# Posts a notice for a server's managers; True once delivered (False: no announce channel, or
# the post failed).
Notify = Callable[[int, str], Awaitable[bool]]


class RoleEditFailed(Exception):
    """Discord refused or failed a role change: its JSON error code (None if it had none)."""

    def __init__(self, code: int | None, *, transient: bool) -> None:
        super().__init__(f"role change failed (code {code})")
        self.code = code
        self.transient = transient


class RoleEditor(Protocol):
    """Grants or removes one role of one member (the cog, through discord.py)."""

    async def apply(self, change: RoleChange) -> None: ...


class RoleQueue:
    def __init__(self, store: CollectorStore) -> None:
        self.store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._editor: RoleEditor | None = None
        # Set in every process (a follower sees a role deleted too), not only the leader's.
        self.notify: Notify | None = None
        self.roles_changed: Callable[[int], Awaitable[None]] | None = None
        # One notice at a time in this process, so an owed one is never told twice here.
        self._telling = asyncio.Lock()

    def start(self, editor: RoleEditor) -> None:
        self._editor = editor
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dropbell-role-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Rows were inserted: work them now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        try:  # notices owed from before (no announce channel then, or another process's)
            await self.tell_owed()
        except Exception:
            log.exception("telling the managers' owed notices failed")
        while True:
            self._wake.clear()
            try:
                worked, transient = await self.work_once()
            except Exception:
                log.exception("the role queue's round failed; trying again later")
                worked, transient = 0, True
            if transient:
                await asyncio.sleep(RETRY_SECONDS)
            elif not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def work_once(self) -> tuple[int, bool]:
        """One round: the changes handled, and whether any failed for a passing reason."""
        changes = await self.store.pending_round(PER_GUILD, ROUND)
        if not changes:
            return 0, False
        by_guild = [
            list(group)
            for _, group in groupby(sorted(changes, key=lambda c: c.guild_id), lambda c: c.guild_id)
        ]
        gate = asyncio.Semaphore(PARALLEL_GUILDS)

        async def one_guild(rows: list[RoleChange]) -> bool:
            async with gate:
                transient = False
                for change in sorted(rows, key=lambda c: c.id):
                    transient |= await self._handle(change)
                return transient

        results = await asyncio.gather(*(one_guild(rows) for rows in by_guild))
        return len(changes), any(results)

    async def _handle(self, change: RoleChange) -> bool:
        """Send one change and record its outcome; True if it is to be tried again."""
        assert self._editor is not None
        try:
            await self._editor.apply(change)
        except RoleEditFailed as failed:
            return await self._failed(change, failed)
        await self.store.finish(change.id, RoleChangeState.DONE, None, utcnow())
        return False

    async def _failed(self, change: RoleChange, failed: RoleEditFailed) -> bool:
        if failed.transient and change.attempts + 1 < MAX_ATTEMPTS:
            await self.store.finish(change.id, RoleChangeState.PENDING, failed.code, utcnow())
            return True
        await self.store.finish(change.id, RoleChangeState.FAILED, failed.code, utcnow())
        if failed.code == UNKNOWN_ROLE:
            await self.role_gone(change.guild_id, change.role_id)
            if self.roles_changed is not None:
                await self.roles_changed(change.guild_id)
        elif failed.code == MISSING_PERMISSIONS:
            # The fan's count stays; the managers hear it once per role until they fix it.
            names = tuple(t.name for t in await self.store.tiers(change.guild_id)
                          if t.role_id == change.role_id)  # fmt: skip
            await self._notice(RoleNotice(change.guild_id, change.role_id, False, names))
        elif failed.code != UNKNOWN_MEMBER:  # a fan who left the server needs no notice
            log.warning("role change %s failed with code %s", change.id, failed.code)
        return False

    async def role_gone(self, guild_id: int, role_id: int) -> None:
        """Disable the tiers of a deleted role (their pending changes skipped) and tell the
        managers once."""
        now = utcnow()
        disabled = await self.store.disable_role(
            guild_id, role_id, wording.ROLE_DELETED_REASON, now
        )
        if not disabled:
            return
        if self.roles_changed is not None:
            # collectors-first stops counting the tier before anyone is told it is disabled
            await self.roles_changed(guild_id)
        self.poke()  # fans realigned to the tiers left
        await self._notice(RoleNotice(guild_id, role_id, True, tuple(t.name for t in disabled)))

    async def _notice(self, notice: RoleNotice) -> None:
        """Tell the managers once. Recorded only once delivered: without an announce channel
        (or if the post fails) it stays owed, and is told when a channel is set
        (:meth:`tell_owed`)."""
        async with self._telling:
            if await self.store.told(notice.guild_id, notice.key):
                return
            if notice.deleted:
                text = wording.role_deleted_notice(notice.tier_names)
            else:
                text = wording.missing_permission_notice(notice.tier_names, notice.role_id)
            if self.notify is not None and await self.notify(notice.guild_id, text):
                await self.store.record_told(notice.guild_id, notice.key, utcnow())

    async def tell_owed(self, guild_id: int | None = None) -> None:
        """Tell the notices owed (to one server, or to every server: at the leader's start)."""
        guilds = [guild_id] if guild_id is not None else await self.store.guilds_owed_notices()
        for guild in guilds:
            for notice in await self.store.untold(guild, wording.ROLE_DELETED_REASON):
                await self._notice(notice)
