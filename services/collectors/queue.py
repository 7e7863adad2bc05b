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
    missing_permission_key,
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

Notify = Callable[[int, str], Awaitable[None]]


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
        self._notify: Notify | None = None
        self.roles_changed: Callable[[int], Awaitable[None]] | None = None

    def start(self, editor: RoleEditor, notify: Notify) -> None:
        self._editor, self._notify = editor, notify
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
            key = missing_permission_key(change.role_id)
            if await self.store.first_notice(change.guild_id, key, utcnow()):
                names = [t.name for t in await self.store.tiers(change.guild_id)
                         if t.role_id == change.role_id]  # fmt: skip
                await self._tell(
                    change.guild_id, wording.missing_permission_notice(names, change.role_id)
                )
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
        self.poke()  # fans realigned to the tiers left
        if await self.store.first_notice(guild_id, f"roles:deleted:{role_id}", now):
            await self._tell(guild_id, wording.role_deleted_notice([t.name for t in disabled]))

    async def _tell(self, guild_id: int, text: str) -> None:
        if self._notify is not None:
            await self._notify(guild_id, text)
