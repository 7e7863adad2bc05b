"""Pacing rules: the global and per-channel limits, DM opening, old-message edits, and the
invalid-request counter, driven through a bare discord.py bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import aiohttp
import discord
import pytest

from sandbox import Limits
from sandbox.models import utcnow

from .conftest import World

HOUR = dt.timedelta(hours=1)


async def test_global_limit_is_on_by_default_and_interactions_are_exempt(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    assert sb.limiter.global_per_second == Limits().global_per_second == 50
    started = time.monotonic()
    users = await asyncio.gather(*(bot.fetch_user(seed.fans[0].id) for _ in range(70)))
    assert len(users) == 70 and sb.stats["429"] >= 1
    assert time.monotonic() - started > 0.2  # discord.py waited the global window out
    before = sb.stats["429"]
    answers = await asyncio.gather(*(sb.slash(seed.fans[1], "secret") for _ in range(70)))
    assert all(a.content == "shh" for a in answers) and sb.stats["429"] == before


async def test_channel_send_bucket_is_per_channel_with_full_headers(world: World) -> None:
    sb, seed = world.sb, world.seed
    drops = f"{sb.api_base}/channels/{seed.drops.id}/messages"
    general = f"{sb.api_base}/channels/{seed.general.id}/messages"
    async with aiohttp.ClientSession() as http:
        for i in range(5):
            async with http.post(drops, json={"content": f"m{i}"}) as resp:
                assert resp.status == 200
                assert resp.headers["X-RateLimit-Limit"] == "5"
                assert resp.headers["X-RateLimit-Remaining"] == str(4 - i)
                assert 0 < float(resp.headers["X-RateLimit-Reset-After"]) <= 5.0
                assert float(resp.headers["X-RateLimit-Reset"]) > time.time()
                assert resp.headers["X-RateLimit-Bucket"]
        async with http.post(drops, json={"content": "sixth"}) as resp:
            assert resp.status == 429
            assert resp.headers["Via"] and resp.headers["X-RateLimit-Scope"] == "user"
            body = await resp.json()
            assert body["message"] == "You are being rate limited." and body["code"] == 0
            assert body["global"] is False and 0 < body["retry_after"] <= 5.0
        async with http.post(general, json={"content": "other channel"}) as resp:
            assert resp.status == 200  # keyed by channel id
    assert sb.invalid_request_breakdown() == {"429/0": 1}


async def test_dm_opening_is_paced_and_distinct_from_closed_dms(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    fans = [sb.create_member(seed.guild.id, f"dmfan{i}") for i in range(sb.limits.dm_opens + 1)]
    opened = [await bot.create_dm(discord.Object(f.id)) for f in fans[:-1]]
    with pytest.raises(discord.Forbidden) as caught:
        await bot.create_dm(discord.Object(fans[-1].id))
    assert caught.value.code == 40003 and "opening direct messages too fast" in caught.value.text
    # Re-opening a DM channel that exists is free (discord.py would use its cache; ask anyway).
    again = await bot.http.start_private_message(fans[0].id)
    assert int(again["id"]) == opened[0].id
    sb.close_dms(fans[1].id)
    with pytest.raises(discord.Forbidden) as closed:
        await opened[1].send("hello")
    assert closed.value.code == 50007
    assert sb.invalid_request_breakdown() == {"403/40003": 1, "403/50007": 1}
    assert sb.invalid_requests() == 2


async def test_dm_pacing_window_passes(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    sb.limits.dm_opens, sb.limits.dm_open_window = 1, 0.3
    first, second = (sb.create_member(seed.guild.id, f"w{i}") for i in range(2))
    await bot.create_dm(discord.Object(first.id))
    with pytest.raises(discord.Forbidden):
        await bot.create_dm(discord.Object(second.id))
    await asyncio.sleep(0.35)
    assert (await bot.create_dm(discord.Object(second.id))).recipient is not None


async def test_edits_to_old_messages_are_capped_with_30046(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    old = sb.post_message(seed.drops, "stock: 10", created_at=utcnow() - 2 * HOUR)
    channel = bot.get_partial_messageable(seed.drops.id)
    message = await channel.fetch_message(old.id)
    assert message.created_at < discord.utils.utcnow() - HOUR
    for left in range(sb.limits.old_message_edits):
        message = await message.edit(content=f"stock: {left}")
    started = time.monotonic()
    with pytest.raises(discord.HTTPException) as caught:
        await message.edit(content="stock: -1")
    assert caught.value.status == 429 and caught.value.code == 30046
    assert "older than 1 hour" in caught.value.text
    assert time.monotonic() - started < 1  # raised at once: no Via, so no retry loop
    assert sb.messages(seed.drops.id)[0].content == f"stock: {sb.limits.old_message_edits - 1}"
    # A fresh message is not capped.
    fresh = await channel.send("fresh")
    for i in range(sb.limits.old_message_edits + 2):
        fresh = await fresh.edit(content=f"fresh {i}")
    assert sb.invalid_request_breakdown() == {"429/30046": 1}


async def test_aged_message_falls_under_the_cap(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    sb.limits.old_message_edits = 1
    sent = await bot.get_partial_messageable(seed.drops.id).send("countdown")
    sb.age_message(sent.id, 2 * HOUR)
    sent = await sent.edit(content="countdown 1")
    with pytest.raises(discord.HTTPException, match="30046"):
        await sent.edit(content="countdown 2")
    sb.relax("old_message_edits", reason="checks that relaxing lifts the cap")
    await sent.edit(content="countdown 3")
