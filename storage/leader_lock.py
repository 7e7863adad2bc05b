"""Which one of several bot processes on one database runs the background work.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own, kept
for as long as it leads: when the process dies (even by kill -9) the server drops the connection
and with it the lock, and the next process that asks gets it. A SQLite file belongs to one
process, which always leads.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import Database

log = logging.getLogger("dropbell.leader")

# Any fixed 64-bit number, the same in every process of one installation ("dropbell" in ASCII).
LEADER_LOCK_KEY = 0x64726F7062656C6C


class LeaderLock:
    def __init__(self, database: Database, key: int = LEADER_LOCK_KEY) -> None:
        self.database = database
        self.key = key
        self._connection: AsyncConnection | None = None

    @property
    def shared(self) -> bool:
        """Whether another process may hold the lock (so the leader must look for work that
        other processes wrote)."""
        return self.database.shared

    async def try_acquire(self) -> bool:
        """True if this process holds the lock now (never waits for it)."""
        if not self.shared:
            return True
        try:
            if self._connection is None:
                self._connection = await self.database.engine.connect()
            result = await self._connection.execute(select(func.pg_try_advisory_lock(self.key)))
            got = bool(result.scalar())
            # Not in a transaction: the lock is the session's, and nothing is left open.
            await self._connection.commit()
            return got
        except Exception as error:  # the database is away: not leader, try again later
            log.warning("could not ask for leadership: %s", error)
            await self._drop()
            return False

    async def still_held(self) -> bool:
        """False once the lock's connection is gone (the server restarted, the network broke):
        the lock went with it, and another process may already lead."""
        if not self.shared:
            return True
        if self._connection is None:
            return False
        try:
            await self._connection.execute(select(1))
            await self._connection.commit()
            return True
        except Exception as error:
            log.warning("lost the leadership connection: %s", error)
            await self._drop()
            return False

    async def release(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            await self._connection.execute(select(func.pg_advisory_unlock(self.key)))
            await self._connection.commit()
        await self._drop()

    async def _drop(self) -> None:
        # Invalidated, not handed back to the pool: a pooled connection would keep a session
        # lock that failed to unlock.
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()
