"""The database engine and the one place where SQLite and PostgreSQL differ.

Everything else in dropbell speaks plain SQLAlchemy Core that runs on both. Use
:meth:`Database.read` for transactions that only read and :meth:`Database.write` for any
transaction that writes: on SQLite it begins ``IMMEDIATE`` so that a transaction that reads
first and then writes takes the write lock up front, instead of failing with "database is
locked" when it upgrades (a deferred transaction does not wait for the busy timeout).
:meth:`Database.run_write` runs a whole synchronous transaction function at once, for hot
paths where every statement's trip through the event loop would cost latency.

PostgreSQL (asyncpg) takes the same storage functions with no branch of its own: ``write`` and
``run_write`` are plain READ COMMITTED transactions on a pooled connection, ``DriverStatement``
runs through SQLAlchemy. Its writers run side by side, where SQLite's take turns, so a write
transaction that reads a row and writes back from it reads it ``.with_for_update()`` (and takes
"the next free" row of a queue with ``skip_locked=True``): PostgreSQL locks the rows, SQLite
renders no locking clause at all, so its hot paths run exactly the SQL they ran before. The
checklist for new storage code is in docs/postgresql.md.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Insert,
    Select,
    Table,
    Update,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 10_000


# --- dialect spot: SQLite -------------------------------------------------------------------
def _prepare_sqlite(sync_engine: Engine) -> None:
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
        if connection.dialect.driver == "pysqlite":
            # Straight to the driver: SQLAlchemy's execution would cost more than the BEGIN.
            # The writer may have begun already (_SQLiteWriter.run_now).
            driver = connection.connection.driver_connection
            if not driver.in_transaction:
                driver.execute(f"BEGIN {mode}")
        else:
            connection.exec_driver_sql(f"BEGIN {mode}")


class WriterBusy(Exception):
    """Another process holds SQLite's write lock."""


def _insert_ignoring_duplicates(dialect: str, table: Table) -> Insert:
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    return postgresql_insert(table).on_conflict_do_nothing()


def insert_ignoring_duplicates(connection: Connection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the dialect of ``connection`` (for transaction
    functions, which get a connection rather than the :class:`Database`)."""
    return _insert_ignoring_duplicates(connection.dialect.name, table)


class DatabaseBusy(Exception):
    """The write could not begin within the time it was given (another process holds the
    database's write lock); nothing was written. Fans' writes are given the time that still
    lets them be answered within Discord's 3 seconds."""


class _SQLiteWriter:
    """A plain sqlite3 connection for :meth:`Database.run_write`, and a thread to wait on.

    With aiosqlite every statement is a hop to its thread and back through the event loop; on a
    busy loop each hop waits its turn. Here a whole transaction runs at once: on the caller's
    thread when the write lock is free, else on the writer thread, which may wait for it.
    """

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self.engine = create_engine(sync_url, connect_args={"check_same_thread": False})
        _prepare_sqlite(self.engine)
        self.immediate = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dropbell-sqlite")
        # Held from one transaction to the next: a pool check-out and check-in per transaction
        # cost as much as the transaction's statements.
        self._connection: Connection | None = None

    def _held(self) -> Connection:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._connection = self.immediate.connect()
        return connection

    def run(self, work: Callable[[Connection], T], wait_ms: int | None = None) -> T:
        """The transaction, waiting (on this thread) for another process's write to end: up to
        ``wait_ms`` (then :class:`DatabaseBusy`, nothing done), else the busy timeout."""
        if wait_ms is None:
            connection = self._held()
            with connection.begin():
                return work(connection)
        return self._begun(work, wait_ms, DatabaseBusy)

    def run_now(self, work: Callable[[Connection], T]) -> T:
        """The transaction on the caller's thread, if the write lock is free at once; raises
        :class:`WriterBusy` (nothing done) if another process holds it."""
        return self._begun(work, 0, WriterBusy)

    def _begun(self, work: Callable[[Connection], T], wait_ms: int, busy: type[Exception]) -> T:
        connection = self._held()
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout={wait_ms}")
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            raise busy() from error
        finally:
            driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Once IMMEDIATE holds the lock, nothing in a WAL transaction waits for another writer.
        with connection.begin():
            return work(connection)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    # (position, conversion) of the parameters the dialect converts (dates, mostly).
    converted: tuple[tuple[int, Callable[[Any], Any]], ...]
    results: tuple[Callable[[Any], Any] | None, ...]


class DriverStatement:
    """A Core statement that a hot path runs many times a second: on SQLite's sync driver (the
    writer thread of :meth:`Database.run_write`), straight on the sqlite3 cursor, compiled once
    (with the bind and result conversions SQLAlchemy would apply); otherwise through
    SQLAlchemy as usual.

    SQLAlchemy's execution of a cached statement costs about 100 us of Python on this kind of
    machine, eight times what SQLite takes to run it; on the writer thread that time holds the
    GIL the event loop needs. Give every parameter a ``bindparam`` (no expanding ones).
    """

    def __init__(self, statement: Select[Any] | Insert | Update) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            if "POSTCOMPILE" in compiled.string or not compiled.positional:
                raise ValueError(f"not a fixed positional statement: {compiled.string}")
            names = tuple(compiled.positiontup or ())
            binds = (
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            )
            converted = tuple((index, bind) for index, bind in enumerate(binds) if bind is not None)
            columns = getattr(self.statement, "selected_columns", ())
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            )
            found = _Compiled(compiled.string, names, converted, results)
            self._by_dialect[dialect.name] = found
        return found

    @staticmethod
    def _args(
        compiled: _Compiled, params: Mapping[str, Any], memo: dict[tuple[int, Any], Any]
    ) -> list[Any]:
        values = [params[name] for name in compiled.names]
        for index, convert in compiled.converted:
            value = values[index]
            # Rows of one executemany often share a value (the batch's timestamp): convert once.
            key = (index, value)
            if key not in memo:
                memo[key] = convert(value)
            values[index] = memo[key]
        return values

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows, as plain tuples."""
        if connection.dialect.driver != "pysqlite":
            return [tuple(row) for row in connection.execute(self.statement, dict(params))]
        compiled = self._compiled(connection.dialect)
        cursor = connection.connection.driver_connection.execute(  # type: ignore[union-attr]
            compiled.sql, self._args(compiled, params, {})
        )
        rows = cursor.fetchall()
        if not any(compiled.results):
            return rows
        return [
            tuple(
                value if result is None else result(value)
                for result, value in zip(compiled.results, row, strict=True)
            )
            for row in rows
        ]

    def run(self, connection: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per parameter set (one prepared statement on SQLite)."""
        if not params:
            return
        if connection.dialect.driver != "pysqlite":
            connection.execute(self.statement, [dict(p) for p in params])
            return
        compiled = self._compiled(connection.dialect)
        memo: dict[tuple[int, Any], Any] = {}
        connection.connection.driver_connection.executemany(  # type: ignore[union-attr]
            compiled.sql, [self._args(compiled, p, memo) for p in params]
        )


# --------------------------------------------------------------------------------------------


class Database:
    """An async engine plus read/write transaction helpers; owned by whoever starts the bot."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = create_async_engine(url, echo=echo, **self._engine_options())
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._sqlite: _SQLiteWriter | None = None
        # SQLite has one writer at a time. Queue writers here instead of letting them spin in
        # busy_timeout, whose back-off sleeps (up to 100 ms each) would dominate tail latency.
        self._write_lock: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine.sync_engine)
            self._write_lock = asyncio.Lock()

    def _engine_options(self) -> dict[str, Any]:
        if self.dialect == "sqlite":
            return {}
        return {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}

    @property
    def shared(self) -> bool:
        """Whether other processes may run on this database at once (PostgreSQL); a SQLite
        file belongs to one bot process."""
        return self.dialect != "sqlite"

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

    async def run_write(self, work: Callable[[Connection], T], wait: float | None = None) -> T:
        """Run ``work(connection)`` as one write transaction (committed if it returns).

        ``work`` is plain synchronous SQLAlchemy Core. On SQLite the whole transaction runs at
        once on a plain sqlite3 connection: right here if the write lock is free (keep ``work``
        short), on the writer thread if another process holds it; elsewhere it runs through
        ``run_sync`` on the async driver.

        ``wait``: the seconds this write may wait for the write lock, held in this process or
        another, before it gives up with :class:`DatabaseBusy`, nothing written (a fan's press
        must be answered within 3 s, even "try again"); None waits as long as the busy timeout.
        On PostgreSQL, writers wait on rows, not on the database: ``wait`` does not apply.
        """
        if self._write_lock is None:
            async with self._writer.begin() as connection:
                return await connection.run_sync(work)
        if self._sqlite is None:
            self._sqlite = _SQLiteWriter(self.url)
        writer = self._sqlite
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        try:
            async with asyncio.timeout_at(deadline):
                await self._write_lock.acquire()
        except TimeoutError:
            raise DatabaseBusy() from None
        try:
            # On the event loop's own thread: a join batch takes a few hundred microseconds of
            # Python, and handing it to the writer thread cost more than that (the loop and the
            # thread passing the GIL back and forth at every statement; join_burst: 1,200-1,370
            # us of CPU per join inline, 1,280-1,640 through the thread, p99 81-156 ms against
            # 96-355 ms). The thread is for waiting: another process may hold the write lock.
            try:
                return writer.run_now(work)
            except WriterBusy:
                wait_ms = None if deadline is None else max(0, int((deadline - loop.time()) * 1000))
                return await loop.run_in_executor(writer.thread, writer.run, work, wait_ms)
        finally:
            self._write_lock.release()

    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this database's dialect."""
        return _insert_ignoring_duplicates(self.dialect, table)

    async def dispose(self) -> None:
        if self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._sqlite.close)
            self._sqlite = None
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
