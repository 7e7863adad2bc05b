"""Shared fixtures: a sandbox per test, a seeded community, and the real bot against them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.databases import (
    WITHOUT_DATABASE,
    created_databases,
    drop_created_databases,
    on_postgresql,
)
from tests.harness import Community, InProcessBot, build_community, settings_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL leg skips the tests that never touch a database (the SQLite leg ran
    them; tests.databases.WITHOUT_DATABASE)."""
    if not on_postgresql():
        return
    skip = pytest.mark.skip(reason="no database in this test: run once, on the SQLite leg")
    for item in items:
        if item.nodeid.startswith(WITHOUT_DATABASE):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_databases() -> Iterator[None]:
    """On the PostgreSQL leg, the databases a test created are dropped when it ends (set up
    before, so torn down after, the test's own fixtures and bots)."""
    before = created_databases()
    yield
    drop_created_databases(keep=before)


@pytest.fixture(autouse=True, scope="session")
def no_databases_left() -> Iterator[None]:
    """The databases of module-scoped fixtures go at the end of the run."""
    yield
    drop_created_databases()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    sb = Sandbox()
    await sb.start()
    try:
        yield sb
        # Any request to a route the sandbox does not implement fails the test that made it.
        sb.assert_no_unimplemented()
    finally:
        await sb.stop()


@pytest.fixture
def community(sandbox: Sandbox) -> Community:
    return build_community(sandbox)


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    return tmp_path / "dropbell.db"


@pytest.fixture
async def bot_runner(
    sandbox: Sandbox, community: Community, database_path: Path
) -> AsyncIterator[InProcessBot]:
    runner = InProcessBot(settings_for(sandbox, database_path, community.guild.id))
    try:
        yield runner
    finally:
        await runner.stop()


@pytest.fixture
async def bot(bot_runner: InProcessBot):
    return await bot_runner.start()


# Session-wide: a test whose logs, output, files or sandbox messages hold the token fails.
from tests.token_guard import pytest_runtest_makereport  # noqa: E402, F401
