"""Gateway rules: bad tokens (4004), privileged intents (4014), RECONNECT and INVALID_SESSION
on demand, and heartbeat ACKs that keep discord.py's latency in the millisecond range."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest

from bot.endpoints import loopback_connector, point_discord_at
from sandbox import Sandbox, seed_demo_world

from .barebot import BareBot
from .conftest import World


@contextlib.asynccontextmanager
async def running_bot(
    sb: Sandbox, token: str = "sandbox-token", intents: discord.Intents | None = None
) -> AsyncIterator[tuple[BareBot, asyncio.Task[None]]]:
    """A bare bot started against ``sb`` (not waited for: the test decides what to expect)."""
    seed = seed_demo_world(sb, fans=1)
    restore = point_discord_at(sb.api_base, sb.gateway_url)
    bot = BareBot(seed.guild.id, connector=loopback_connector())
    if intents is not None:
        bot._connection._intents = intents
    task = asyncio.create_task(bot.start(token))
    try:
        yield bot, task
    finally:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        restore()


async def test_identify_with_a_wrong_token_is_closed_with_4004(sb: Sandbox) -> None:
    sb.accept_tokens("the-real-token")
    async with aiohttp.ClientSession() as http, http.ws_connect(sb.gateway_url) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": "stolen", "intents": 1, "properties": {}}})
        closed = await ws.receive()
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4004


async def test_wrong_token_fails_login_and_reset_token_closes_4004(sb: Sandbox) -> None:
    sb.accept_tokens("the-real-token")
    async with running_bot(sb, token="stolen") as (_, task):
        with pytest.raises(discord.LoginFailure):
            await asyncio.wait_for(task, 5)  # REST answers 401 to GET /users/@me
    assert sb.invalid_request_breakdown() == {"401/0": 1}
    async with running_bot(sb, token="the-real-token") as (bot, task):
        await sb.wait_for_bot()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        sb.accept_tokens("regenerated-in-the-portal")
        await sb.drop_gateway()
        with pytest.raises(discord.ConnectionClosed) as caught:
            await asyncio.wait_for(task, 5)  # the RESUME carries the old token
        assert caught.value.code == 4004


async def test_privileged_intent_not_granted_is_4014(sb: Sandbox) -> None:
    intents = discord.Intents.default()
    intents.members = True
    async with running_bot(sb, intents=intents) as (_, task):
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(task, 5)
    assert sb.stats["close_4014"] == 1


async def test_granted_privileged_intent_connects(sb: Sandbox) -> None:
    sb.grant_privileged_intents(members=True)
    intents = discord.Intents.default()
    intents.members = True
    async with running_bot(sb, intents=intents) as (bot, _):
        await sb.wait_for_bot()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        assert sb.gateway.current is not None and sb.gateway.current.intents & (1 << 1)


async def test_reconnect_request_resumes(world: World) -> None:
    sb, bot = world.sb, world.bot
    await sb.request_reconnect()
    await sb.wait_for_resume(timeout=5)
    assert sb.stats["identifies"] == 1 and sb.stats["resumes"] == 1
    assert (await sb.slash(world.seed.fans[0], "ping")).content == "pong"
    await asyncio.sleep(0)
    assert bot.events == ["resumed"]


async def test_invalid_session_makes_the_bot_identify_again(world: World) -> None:
    sb = world.sb
    await sb.invalidate_session(resumable=False)
    await sb.gateway.wait_until(lambda: sb.stats["identifies"] == 2, 10, "a new IDENTIFY")
    await sb.wait_for_bot()
    assert sb.stats["resumes"] == 0
    assert (await sb.slash(world.seed.fans[0], "ping")).content == "pong"


async def test_latency_stays_in_milliseconds_across_heartbeats(sb: Sandbox) -> None:
    # 41.25 s on Discord; a short interval shows in two seconds what /about showed after 40 s.
    sb.gateway.heartbeat_interval_ms = 100
    stop = threading.Event()

    def busy_thread() -> None:
        # A real bot has worker threads (aiosqlite, schedulers) competing for the GIL, so
        # discord.py's keep-alive thread stamps its send time late: an instant ACK was then
        # measured against the previous heartbeat and latency read a whole interval.
        while not stop.is_set():
            sum(range(10_000))

    async with running_bot(sb) as (bot, _):
        await sb.wait_for_bot()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        worker = threading.Thread(target=busy_thread, daemon=True)
        worker.start()
        samples = []
        try:
            for _ in range(25):
                await asyncio.sleep(0.1)
                samples.append(bot.latency)
        finally:
            stop.set()
            worker.join()
        assert all(0 < s < 0.08 for s in samples), samples


async def test_dispatches_are_gated_by_intents(sb: Sandbox) -> None:
    intents = discord.Intents.default()
    intents.guild_scheduled_events = False
    async with running_bot(sb, intents=intents) as (bot, _):
        await sb.wait_for_bot()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        received: list[str] = []

        async def on_socket_event_type(event: str) -> None:
            received.append(event)

        bot.add_listener(on_socket_event_type)
        guild_id = bot.guild_id
        sb.create_member(guild_id, "joiner")  # GUILD_MEMBERS (privileged): not asked for
        sb.create_channel(guild_id, "news")  # GUILDS: asked for
        start = discord.utils.utcnow() + dt.timedelta(days=1)
        await bot.http.create_guild_scheduled_event(
            guild_id, name="Drop", privacy_level=2, entity_type=3,
            entity_metadata={"location": "shop"}, scheduled_start_time=start.isoformat(),
            scheduled_end_time=(start + dt.timedelta(hours=1)).isoformat(),
        )  # fmt: skip
        assert (await sb.slash(sb.member(guild_id, "joiner"), "ping")).content == "pong"
        assert received == ["CHANNEL_CREATE", "INTERACTION_CREATE"]
