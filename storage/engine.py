"""The database engine and the one place where SQLite and PostgreSQL differ.

Everything else in dropbell speaks plain SQLAlchemy Core that runs on both. Use
:meth:`Database.read` for transactions that only read and :meth:`Database.write` for any
transaction that writes: on SQLite it begins ``IMMEDIATE`` so that a transaction that reads
first and then writes takes the write lock up front, instead of failing with "database is
locked" when it upgrades (a deferred transaction does not wait for the busy timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Insert, Table, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


# --- dialect spot: SQLite -------------------------------------------------------------------
def _prepare_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 driver's own transaction handling breaks explicit BEGIN and SAVEPOINT;
        # switch it off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


# --------------------------------------------------------------------------------------------


class Database:
    """An async engine plus read/write transaction helpers; owned by whoever starts the bot."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = create_async_engine(url, echo=echo, **self._engine_options())
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        # SQLite has one writer at a time. Queue writers here instead of letting them spin in
        # busy_timeout, whose back-off sleeps (up to 100 ms each) would dominate tail latency.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None

    def _engine_options(self) -> dict[str, Any]:
        if self.dialect == "sqlite":
            return {}
        return {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self.dialect == "postgresql" else "SQLite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on any error."""
        if self._write_lock is None:
            async with self._writer.begin() as connection:
                yield connection
            return
        async with self._write_lock, self._writer.begin() as connection:
            yield connection

    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this database's dialect."""
        if self.dialect == "sqlite":
            return sqlite_insert(table).on_conflict_do_nothing()
        return postgresql_insert(table).on_conflict_do_nothing()

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
