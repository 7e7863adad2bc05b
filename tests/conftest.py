"""Shared fixtures: a sandbox per test, a seeded community, and the real bot against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.harness import Community, InProcessBot, build_community, settings_for


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
