"""Sharding as Discord does it, through bare discord.py clients: a session identified with
``shard: [id, count]`` gets only the servers with ``(guild_id >> 22) % count == id``, in READY
and in every event after; an impossible shard closes the socket with 4010."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest

from bot.endpoints import loopback_connector, point_discord_at
from sandbox import Sandbox
from sandbox.gateway import shard_of
from sandbox.models import Guild

SHARDS = 2


async def guild_per_shard(sb: Sandbox) -> list[Guild]:
    """One new server in each shard (a snowflake's shard is its millisecond: wait for one)."""
    found: dict[int, Guild] = {}
    while len(found) < SHARDS:
        guild = sb.create_guild(f"Server {len(sb.world.guilds)}")
        found.setdefault(shard_of(guild.id, SHARDS), guild)
        await asyncio.sleep(0.001)
    return [found[shard] for shard in range(SHARDS)]


@contextlib.asynccontextmanager
async def connected(sb: Sandbox, shard_id: int) -> AsyncIterator[discord.Client]:
    client = discord.Client(
        intents=discord.Intents(guilds=True),
        shard_id=shard_id,
        shard_count=SHARDS,
        connector=loopback_connector(),
    )
    task = asyncio.create_task(client.start("sandbox-token"))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 10)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


async def _until(check: object) -> None:
    for _ in range(100):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the client never saw the event")


async def test_each_shard_gets_only_its_servers(sb: Sandbox) -> None:
    guilds = await guild_per_shard(sb)
    restore = point_discord_at(sb.api_base, sb.gateway_url)
    try:
        async with connected(sb, 0) as first, connected(sb, 1) as second:
            clients = [first, second]
            for shard, client in enumerate(clients):
                expected = {g.id for g in sb.world.guilds.values() if shard_of(g.id, 2) == shard}
                assert {g.id for g in client.guilds} == expected, f"READY of shard {shard}"
            # Events after READY follow the same rule, whichever client identified last.
            for shard, guild in enumerate(guilds):
                channel = sb.create_channel(guild.id, f"drops-{shard}")
                await _until(lambda c=channel, s=shard: clients[s].get_channel(c.id) is not None)
                assert clients[1 - shard].get_channel(channel.id) is None
            late = await guild_per_shard(sb)
            for shard, guild in enumerate(late):
                await _until(lambda g=guild, s=shard: clients[s].get_guild(g.id) is not None)
                assert clients[1 - shard].get_guild(guild.id) is None
    finally:
        restore()


async def test_a_shard_outside_the_count_is_refused_with_4010(sb: Sandbox) -> None:
    restore = point_discord_at(sb.api_base, sb.gateway_url)
    client = discord.Client(
        intents=discord.Intents(guilds=True),
        shard_id=SHARDS,
        shard_count=SHARDS,
        connector=loopback_connector(),
    )
    try:
        with pytest.raises(discord.ConnectionClosed) as closed:
            await asyncio.wait_for(client.start("sandbox-token"), 10)
        assert closed.value.code == 4010
    finally:
        await client.close()
        restore()
