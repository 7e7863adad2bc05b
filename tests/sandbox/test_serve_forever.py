from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
import pytest

from sandbox import Sandbox, seed_demo_world, serve_forever
from sandbox.models import snowflake_time, utcnow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_forever_seeds_and_prints_instructions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    task = asyncio.create_task(serve_forever(port))
    try:
        state = None
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/_sandbox/state") as resp:
                        state = await resp.json()
                        break
                await asyncio.sleep(0.02)
        assert state is not None
        [guild] = state["guilds"]
        assert guild["name"] == "Sandbox Server"
        assert {c["name"] for c in guild["channels"]} == {"general", "drops"}
        names = {m["name"] for m in guild["members"]}
        assert {"manager", "fan1", "fan5"} <= names
        printed = capsys.readouterr().out
        assert f"DROPBELL_DISCORD__API_BASE=http://127.0.0.1:{port}/api/v10" in printed
        assert f"DROPBELL_DISCORD__DEV_GUILD_ID={guild['id']}" in printed
        assert "curl" in printed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _ids(seed: int | None) -> list[int]:
    sb = Sandbox(seed=seed)
    world = seed_demo_world(sb)
    sb.ids.release()
    return [
        sb.application_id,
        world.guild.id,
        world.general.id,
        world.drops.id,
        world.manager_role.id,
        world.manager.id,
        *(fan.id for fan in world.fans),
    ]


def test_a_seed_builds_the_same_ids_every_time_and_only_that_seed_does() -> None:
    assert _ids(0) == _ids(0)
    assert _ids(1) != _ids(0)


def test_after_release_new_ids_are_newer_than_the_seeded_world() -> None:
    sb = Sandbox(seed=0)
    world = seed_demo_world(sb)
    sb.ids.release()
    # Messages carry their real time (discord.py reads created_at from the id), and Discord
    # orders by id: anything made now sorts after the seeded world.
    made_now = sb.ids.now()
    assert abs((snowflake_time(made_now) - utcnow()).total_seconds()) < 60
    assert made_now > max(world.guild.id, world.drops.id, *(f.id for f in world.fans))
