"""Which database a benchmark runs the bot on, and reading and writing its rows on either.

A benchmark takes ``--database sqlite|postgresql`` (:func:`add_argument`; SQLite by default)
and gets a fresh, empty database's URL from :func:`bench_database`: a SQLite file in the run's
folder, or a new database on a PostgreSQL server, the one ``DROPBELL_TEST_DATABASE`` names (an
admin URL, as for the tests; ``./dev bench run`` starts one for the whole run) or else a
throwaway cluster started for this benchmark alone (``.ci/postgres``). Rows are read with
:func:`rows` and written with :func:`execute` on the URL (SQLAlchemy ``text()`` or Core), so the
same checks run on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Executable, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL_VARIABLE = "DROPBELL_TEST_DATABASE"
SQLITE, POSTGRESQL = "sqlite", "postgresql"
LABELS = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=tuple(LABELS),
        default=SQLITE,
        help="run the bot on a SQLite file (default) or on a fresh PostgreSQL database (the "
        f"server {ADMIN_URL_VARIABLE} names, else a throwaway one from .ci/postgres)",
    )


def label(kind: str) -> str:
    """How a benchmark's header names the database: "SQLite" or "PostgreSQL"."""
    return LABELS[kind]


def kind_of(url: str) -> str:
    return POSTGRESQL if make_url(url).get_backend_name() == "postgresql" else SQLITE


@contextlib.asynccontextmanager
async def postgres_admin() -> AsyncIterator[str]:
    """An admin URL: the server ``DROPBELL_TEST_DATABASE`` names, else a throwaway cluster
    (started here, stopped and deleted when the block ends)."""
    named = os.environ.get(ADMIN_URL_VARIABLE, "").strip()
    if named:
        if make_url(named).get_backend_name() != "postgresql":
            raise SystemExit(f"{ADMIN_URL_VARIABLE} must be a postgresql:// URL, not {named!r}")
        yield named
        return
    with tempfile.TemporaryDirectory(prefix="dropbell-bench-pg-") as folder:
        started = await asyncio.to_thread(postgres_server, "start", folder)
        try:
            yield started.stdout.strip().splitlines()[-1]
        finally:
            await asyncio.to_thread(postgres_server, "stop", folder)


def postgres_server(action: str, folder: str) -> subprocess.CompletedProcess[str]:
    """``.ci/postgres start|stop folder``; a start that fails says why in one sentence."""
    done = subprocess.run(
        [str(PROJECT_ROOT / ".ci" / "postgres"), action, folder],
        capture_output=True,
        text=True,
        check=False,
    )
    if action == "start" and done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"could not start a throwaway PostgreSQL server: {reason}")
    return done


async def fresh_database(admin: str) -> str:
    """A new, empty PostgreSQL database on the server of ``admin``; its asyncpg URL."""
    name = f"dropbell_bench_{uuid.uuid4().hex[:12]}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def drop_database(admin: str, url: str) -> None:
    await forget(url)
    await _admin(admin, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def scratch_databases(admin: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A maker of fresh databases on the server of ``admin`` (each call: a new one's URL), all
    dropped when the block ends: a server ``DROPBELL_TEST_DATABASE`` names outlives the run."""
    made: list[str] = []

    async def make() -> str:
        made.append(await fresh_database(admin))
        return made[-1]

    try:
        yield make
    finally:
        for url in made:
            await drop_database(admin, url)


async def settle(url: str, table: str) -> None:
    """After a bulk load on PostgreSQL, what autovacuum does within a minute or two of it
    (VACUUM ANALYZE), done now so a measurement does not share the machine with it: a line built
    over days never meets that catch-up all at once. Nothing to do on SQLite."""
    if kind_of(url) == POSTGRESQL:
        await _admin(url, f"VACUUM ANALYZE {table}")


async def _admin(admin: str, statement: str) -> None:
    url = make_url(admin).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def bench_database(kind: str, folder: Path) -> AsyncIterator[str]:
    """A fresh, empty database for one benchmark run; its URL. SQLite: ``bench.db`` in
    ``folder``. PostgreSQL: a new database, dropped when the block ends (the bot's process must
    have ended by then)."""
    if kind == SQLITE:
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        try:
            yield url
        finally:
            await forget(url)
        return
    async with postgres_admin() as admin:
        url = await fresh_database(admin)
        try:
            yield url
        finally:
            await drop_database(admin, url)


@contextlib.asynccontextmanager
async def workspace(kind: str) -> AsyncIterator[tuple[Path, str]]:
    """A temporary folder for a run's files (the bot's log, the SQLite file) and a fresh
    database's URL (:func:`bench_database`); both are gone when the block ends."""
    with tempfile.TemporaryDirectory(prefix="dropbell-bench-") as name:
        async with bench_database(kind, Path(name)) as url:
            yield Path(name), url


# This process's engines, one per database, until forget(): a benchmark polls the bot's rows
# every 0.2 s (claim_storm's pool, reminder_fanout's deliveries), and a new engine per read would
# connect and initialise its dialect every time, in the process that plays Discord.
_engines: dict[str, AsyncEngine] = {}


async def connected(url: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``work`` in one transaction of its own on the database at ``url`` (committed if it
    returns), on this process's own connection: the bot's pool is not ours to share."""
    engine = _engines.get(url)
    if engine is None:
        # SQLite: a connection per read (as cheap as the old plain-sqlite3 readers, and none
        # left open: aiosqlite's thread would keep the process alive), waiting for the bot's
        # write lock as long as they did. PostgreSQL: one connection kept open.
        options: dict[str, Any] = (
            {"poolclass": NullPool, "connect_args": {"timeout": 30}}
            if kind_of(url) == SQLITE
            else {"pool_size": 1}
        )
        engine = _engines[url] = create_async_engine(url, **options)
    async with engine.begin() as connection:
        return await work(connection)


async def forget(url: str) -> None:
    """Close this process's connection to ``url`` (before the database is dropped)."""
    engine = _engines.pop(url, None)
    if engine is not None:
        await engine.dispose()


async def rows(url: str, sql: str, **params: Any) -> list[Any]:
    """The rows of ``sql`` (``:name`` parameters) on the database at ``url``."""

    async def read(connection: AsyncConnection) -> list[Any]:
        return list((await connection.execute(text(sql), params)).all())

    return await connected(url, read)


async def execute(
    url: str, *statements: tuple[str | Executable, Mapping[str, Any] | Sequence[Mapping[str, Any]]]
) -> None:
    """Run each ``(statement, parameters)`` in one transaction; a list of parameter sets runs
    as one executemany (bulk insert). A string is SQL text with ``:name`` parameters."""

    async def write(connection: AsyncConnection) -> None:
        for statement, params in statements:
            compiled = text(statement) if isinstance(statement, str) else statement
            await connection.execute(compiled, params)

    await connected(url, write)


async def run_sync(url: str, work: Callable[[Connection], T]) -> T:
    """A synchronous ``work(connection)`` in one transaction on ``url`` (a bulk writer that
    builds its rows between statements)."""

    async def call(connection: AsyncConnection) -> T:
        return await connection.run_sync(work)

    return await connected(url, call)
