from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.endpoints import loopback_connector, point_discord_at
from sandbox import Sandbox, SeedInfo, seed_demo_world

from .barebot import BareBot


@dataclass
class World:
    sb: Sandbox
    seed: SeedInfo
    bot: BareBot


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox()
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@pytest.fixture
async def world(sb: Sandbox) -> AsyncIterator[World]:
    seed = seed_demo_world(sb, fans=3)
    restore = point_discord_at(sb.api_base, sb.gateway_url)
    bot = BareBot(seed.guild.id, connector=loopback_connector())
    task = asyncio.create_task(bot.start("sandbox-token"))
    try:
        await sb.wait_for_bot(timeout=10)
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        yield World(sb, seed, bot)
    finally:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        restore()
