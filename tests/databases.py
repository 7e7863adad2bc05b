"""Which database the tests run on: the one place that decides.

By default every test database is a SQLite file at the path the test chose. With
``DROPBELL_TEST_DATABASE`` set to a PostgreSQL admin URL (a role that may create databases,
e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``), the same path stands for a fresh
PostgreSQL database instead: named after the path (test paths are unique per test and per
xdist worker, so names never collide), created on first use, dropped when the test ends (the
autouse fixture in tests/conftest.py). Tests keep passing paths around; they turn a path into
a URL with :func:`database_url` and read rows with :func:`query`, never with ``sqlite3``,
unless the test is about SQLite itself (then it is marked :data:`sqlite_only`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")
ADMIN_URL_VARIABLE = "DROPBELL_TEST_DATABASE"


def admin_url() -> URL | None:
    """The PostgreSQL server's admin URL when this run is the PostgreSQL leg, else None."""
    value = os.environ.get(ADMIN_URL_VARIABLE, "").strip()
    if not value:
        return None
    url = make_url(value)
    if url.get_backend_name() != "postgresql":
        raise RuntimeError(f"{ADMIN_URL_VARIABLE} must be a postgresql:// URL, not {value!r}")
    return url.set(drivername="postgresql+asyncpg")


def on_postgresql() -> bool:
    return admin_url() is not None


sqlite_only = pytest.mark.skipif(
    on_postgresql(), reason="about SQLite itself (its file, locks or driver); SQLite leg only"
)

# Folders whose tests never touch dropbell's database (the sandbox alone, the shop adapters
# against the sandbox shop): identical on both legs, so the PostgreSQL leg skips them, saying
# so (tests/conftest.py); database_url() refuses them, so a test there that starts to need a
# database fails on the SQLite leg instead of going unchecked on PostgreSQL.
WITHOUT_DATABASE = (
    "tests/sandbox/",
    "tests/shops/",
    "tests/unit/test_token_guard.py",
    "tests/unit/test_guild_scoping.py",
)

# Databases this process created, so a restarted bot finds its data and the test's end drops it.
_created: set[str] = set()
_created_lock = threading.Lock()
# query()'s engines, by URL; they live on the helper thread's loop (see _run).
_engines: dict[str, AsyncEngine] = {}


def database_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:24]
    return f"dropbell_test_{digest}"


def database_url(path: Path) -> str:
    """The SQLAlchemy URL of the test database that ``path`` stands for (created if new)."""
    running = os.environ.get("PYTEST_CURRENT_TEST", "")
    if running.startswith(WITHOUT_DATABASE):
        raise RuntimeError(
            f"{running}: tests in {', '.join(WITHOUT_DATABASE)} run without a database (the "
            "PostgreSQL leg skips them); move this test, or take its folder off WITHOUT_DATABASE"
        )
    admin = admin_url()
    if admin is None:
        return f"sqlite+aiosqlite:///{path}"
    name = database_name(path)
    with _created_lock:
        if name not in _created:
            # A leftover of an interrupted earlier run under the same path is replaced.
            _run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            _run(_admin(admin, f'CREATE DATABASE "{name}"'))
            _created.add(name)
    return admin.set(database=name).render_as_string(hide_password=False)


def created_databases() -> frozenset[str]:
    """The databases this process created and has not dropped yet."""
    with _created_lock:
        return frozenset(_created)


def drop_created_databases(keep: frozenset[str] = frozenset()) -> None:
    """Drop every database this process created, but those in ``keep`` (the ones fixtures of
    a wider scope made before the test began)."""
    admin = admin_url()
    if admin is None:
        return
    with _created_lock:
        names = sorted(_created - keep)
        _created.intersection_update(keep)
    for name in names:
        _run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_database(path: Path) -> None:
    """Drop the test database of ``path`` now (a test that makes many, one per example);
    on SQLite the file is removed."""
    admin = admin_url()
    if admin is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = database_name(path)
    with _created_lock:
        _created.discard(name)
    _run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def copy_database(source: Path, target: Path) -> None:
    """Make ``target`` a copy of the test database of ``source`` (nobody may be connected to
    it): a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL."""
    admin = admin_url()
    if admin is None:
        shutil.copyfile(source, target)
        return
    name, template = database_name(target), database_name(source)
    with _created_lock:
        _run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _run(_admin(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        _created.add(name)


def query(path: Path, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``:name`` parameters) on the test database of ``path``, read outside
    the bot, in a transaction of its own (one statement sees one moment: put what must agree
    into one statement). SQLite through ``sqlite3``; PostgreSQL through an engine kept per
    database until the database is dropped."""
    if admin_url() is None:
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection, connection:
            return [tuple(row) for row in connection.execute(sql, params).fetchall()]
    url = database_url(path)

    async def run() -> list[tuple[Any, ...]]:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_async_engine(url, poolclass=NullPool)
        async with engine.begin() as connection:
            result = await connection.execute(text(sql), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []

    return _run(run())


def as_utc(value: datetime | str) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive ISO text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _admin(admin: URL, statement: str) -> None:
    import asyncpg  # only the PostgreSQL leg needs it

    if statement.startswith("DROP DATABASE"):
        name = statement.split('"')[1]
        for url in [url for url in _engines if make_url(url).database == name]:
            await _engines.pop(url).dispose()

    connection = await asyncpg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        password=admin.password,
        database=admin.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


_loop: asyncio.AbstractEventLoop | None = None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end on a helper thread's event loop: callers may be sync code
    inside a running event loop (settings built in an async test), where ``asyncio.run`` is
    refused; one loop for the whole run, so query()'s engines outlive a call."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="dropbell-test-db", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result()


_loop_lock = threading.Lock()


def database_kind() -> str:
    """How the bot names the test database in its answers ("SQLite" or "PostgreSQL")."""
    return "PostgreSQL" if on_postgresql() else "SQLite"


def stored_time(value: datetime) -> datetime | str:
    """An aware datetime as a parameter for :func:`query`, as dropbell stores it: naive UTC
    text on SQLite, a timestamp with time zone on PostgreSQL."""
    value = value.astimezone(UTC)
    return value if on_postgresql() else value.replace(tzinfo=None).isoformat(" ")
