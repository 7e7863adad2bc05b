"""Rate limits, unimplemented routes, scheduled events, RESUME and the control endpoint."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord
import pytest

from bot.endpoints import loopback_connector
from sandbox import Sandbox
from sandbox.models import BOT_DEFAULT, MANAGE_EVENTS

from .barebot import BareBot
from .conftest import World

MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"


async def test_route_429_carries_via_and_is_retried(world: World) -> None:
    sb, seed, bot = world.sb, world.seed, world.bot
    sb.rate_limit(MESSAGES_ROUTE, limit=1, per=0.5)
    url = f"{sb.api_base}/channels/{seed.drops.id}/messages"
    # Another client of the same bot uses up the bucket first (a shared bucket, as on Discord).
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"content": "other"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert resp.headers["X-RateLimit-Remaining"] == "0"
            assert float(resp.headers["X-RateLimit-Reset-After"]) > 0
        async with http.post(url, json={"content": "again"}) as resp:
            assert resp.status == 429
            assert resp.headers["Via"] == "1.1 google"
            assert resp.headers["X-RateLimit-Scope"] == "user"
            body = await resp.json()
            assert body["global"] is False and 0 < body["retry_after"] <= 0.5
    started = time.monotonic()
    sent = await bot.get_partial_messageable(seed.drops.id).send("after the limit")
    assert sent.content == "after the limit"
    assert time.monotonic() - started > 0.1  # it really waited
    assert sb.stats["429"] == 2
    assert [m.content for m in sb.messages(seed.drops.id)] == ["other", "after the limit"]


async def test_global_limit_is_retried_and_interactions_are_exempt(world: World) -> None:
    sb, seed, bot = world.sb, world.seed, world.bot
    channels = [sb.create_channel(seed.guild.id, f"c{i}") for i in range(8)]
    sb.global_rate_limit(per_second=4)
    results = await asyncio.gather(
        *(bot.get_partial_messageable(c.id).send(f"hi {c.name}") for c in channels)
    )
    assert len(results) == 8 and all(sb.messages(c.id) for c in channels)
    assert sb.stats["429"] >= 1
    before = sb.stats["429"]
    answers = await asyncio.gather(*(sb.slash(seed.fans[0], "secret") for _ in range(10)))
    assert all(a.content == "shh" for a in answers)
    assert sb.stats["429"] == before


async def test_global_429_headers(sb: Sandbox) -> None:
    sb.create_guild("g")
    sb.global_rate_limit(per_second=1)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sb.api_base}/users/@me") as first:
            assert first.status == 200
        async with http.get(f"{sb.api_base}/users/@me") as second:
            assert second.status == 429
            assert second.headers["X-RateLimit-Global"] == "true"
            assert second.headers["X-RateLimit-Scope"] == "global"
            assert second.headers["Via"] and int(second.headers["Retry-After"]) >= 1
            assert (await second.json())["global"] is True


async def test_unimplemented_route_is_recorded(world: World) -> None:
    sb, seed, bot = world.sb, world.seed, world.bot
    sb.assert_no_unimplemented()
    sent = await bot.get_partial_messageable(seed.drops.id).send("react to me")
    with pytest.raises(discord.NotFound):
        await sent.add_reaction("\N{THUMBS UP SIGN}")
    assert len(sb.unimplemented) == 1
    assert sb.unimplemented[0].startswith(f"PUT /channels/{seed.drops.id}/messages/{sent.id}/")
    with pytest.raises(AssertionError, match="does not implement"):
        sb.assert_no_unimplemented()


async def test_wrong_method_on_a_known_path_is_unimplemented(sb: Sandbox) -> None:
    async with aiohttp.ClientSession() as http, http.delete(f"{sb.api_base}/users/@me") as resp:
        assert resp.status == 404
        assert resp.headers["Content-Type"] == "application/json"
    assert sb.unimplemented == ["DELETE /users/@me"]


async def test_scheduled_event_and_missing_permission(world: World) -> None:
    sb, seed = world.sb, world.seed
    res = await sb.slash(seed.manager, "event", {"name": "Night Moth drop"})
    [event] = sb.scheduled_events(seed.guild.id)
    assert res.content == f"event {event['id']}"
    assert event["name"] == "Night Moth drop" and event["entity_type"] == 3
    assert event["entity_metadata"] == {"location": "Online shop"}
    sb.set_bot_permissions(seed.guild.id, BOT_DEFAULT & ~MANAGE_EVENTS)
    res = await sb.slash(seed.manager, "event", {"name": "Another"})
    assert res.content == "forbidden 50013"
    assert len(sb.scheduled_events(seed.guild.id)) == 1
    guild = world.bot.get_guild(seed.guild.id)
    assert guild is not None and guild.me is not None
    assert not guild.me.guild_permissions.manage_events  # the role update reached the bot


async def test_drop_gateway_resumes_and_answers(world: World) -> None:
    sb, seed, bot = world.sb, world.seed, world.bot
    await sb.drop_gateway()
    await sb.wait_for_resume(timeout=5)
    assert sb.stats["resumes"] == 1 and sb.stats["identifies"] == 1
    res = await sb.slash(seed.fans[0], "ping")
    assert res.content == "pong"
    await asyncio.sleep(0)
    assert bot.events == ["resumed"]


async def test_interaction_during_disconnect_is_replayed(world: World) -> None:
    sb, seed = world.sb, world.seed
    await sb.drop_gateway()
    res = await sb.slash(seed.fans[0], "ping", timeout=5)  # dispatched while disconnected
    assert res.content == "pong"
    assert sb.stats["resumes"] == 1 and sb.stats["identifies"] == 1


async def test_newest_session_receives_dispatches(world: World) -> None:
    sb, seed = world.sb, world.seed
    second = BareBot(seed.guild.id, connector=loopback_connector())
    task = asyncio.create_task(second.start("token-2"))
    try:
        await sb.gateway.wait_until(lambda: sb.stats["identifies"] == 2, 5, "second identify")
        await sb.wait_for_bot()
        seen: list[str] = []

        async def on_first(interaction: discord.Interaction) -> None:
            seen.append("first")

        async def on_second(interaction: discord.Interaction) -> None:
            seen.append("second")

        world.bot.add_listener(on_first, "on_interaction")
        second.add_listener(on_second, "on_interaction")
        assert (await sb.slash(seed.fans[0], "ping")).content == "pong"
        await asyncio.sleep(0.01)
        assert seen == ["second"]
    finally:
        await second.close()
        await asyncio.wait_for(task, 5)


async def test_control_endpoint(world: World) -> None:
    sb, seed = world.sb, world.seed
    base = sb.base_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/_sandbox/state") as resp:
            state = await resp.json()
        assert state["bot_connected"] is True
        assert state["guilds"][0]["name"] == "Sandbox Server"
        assert "ping" in state["global_commands"]
        async with http.post(f"{base}/_sandbox/members", json={"name": "curlfan"}) as resp:
            member = await resp.json()
        assert member["name"] == "curlfan"
        payload = {"name": "curlfan", "command": "post-button", "options": {"drop_id": 7},
                   "channel_id": str(seed.drops.id)}  # fmt: skip
        async with http.post(f"{base}/_sandbox/slash", json=payload) as resp:
            posted = await resp.json()
        assert posted["content"] == "Drop 7 is coming" and posted["response_type"] == 4
        click = {"member_id": member["id"], "message_id": posted["message_id"],
                 "custom_id": "dropbell:join:7"}  # fmt: skip
        async with http.post(f"{base}/_sandbox/click", json=click) as resp:
            clicked = await resp.json()
        assert clicked["content"] == "curlfan joined drop 7" and clicked["ephemeral"] is True
        async with http.get(f"{base}/_sandbox/channels/{seed.drops.id}/messages") as resp:
            listed = await resp.json()
        assert [m["content"] for m in listed] == ["Drop 7 is coming"]
        bad = {"name": "curlfan", "command": "nope"}
        async with http.post(f"{base}/_sandbox/slash", json=bad) as resp:
            assert resp.status == 400
            assert "no synced command" in (await resp.json())["error"]
        await sb.slash(seed.fans[0], "dm-me")
        async with http.get(f"{base}/_sandbox/dms/{seed.fans[0].id}") as resp:
            assert [m["content"] for m in await resp.json()] == ["hello in your DMs"]


async def test_abrupt_tcp_drop_also_resumes(world: World) -> None:
    sb, seed = world.sb, world.seed
    await sb.drop_gateway(code=None)
    await sb.wait_for_resume(timeout=10)
    assert (await sb.slash(seed.fans[0], "ping")).content == "pong"
    assert sb.stats["identifies"] == 1


async def test_late_answer_is_unknown_interaction(world: World) -> None:
    sb, seed = world.sb, world.seed
    sb.interaction_deadline = 0.0
    errors: list[int] = []

    async def on_error(interaction: discord.Interaction, error: Exception) -> None:
        original = getattr(error, "original", error)
        errors.append(getattr(original, "code", 0))

    world.bot.tree.on_error = on_error  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        await sb.slash(seed.fans[0], "ping", timeout=0.5)
    assert errors == [10062]
