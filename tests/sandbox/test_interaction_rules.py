"""Interaction rules: token lifetime, deferred followups, double acknowledgement, disabled
components, DM interactions, expiring option attachments and the control endpoint's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest

from sandbox import SandboxError

from .barebot import ScriptButton
from .conftest import World


async def test_followup_after_token_expiry_is_invalid_webhook_token(world: World) -> None:
    sb, bot = world.sb, world.bot
    sb.limits.interaction_token_lifetime = 0.3

    async def script(interaction: discord.Interaction) -> Any:
        await interaction.response.send_message("first")
        await asyncio.sleep(0.4)
        try:
            await interaction.followup.send("too late")
        except discord.HTTPException as exc:
            return exc.status, exc.code, exc.text
        return None

    bot.script = script
    res = await sb.slash(world.seed.fans[0], "script")
    assert await bot.outcome() == (401, 50027, "Invalid Webhook Token")
    assert res.followups == []
    assert sb.invalid_request_breakdown() == {"401/50027": 1}


async def test_callback_after_token_expiry_is_refused(world: World) -> None:
    sb, bot = world.sb, world.bot
    sb.limits.interaction_token_lifetime = 0.0

    async def script(interaction: discord.Interaction) -> Any:
        try:
            await interaction.response.send_message("late")
        except discord.HTTPException as exc:
            return exc.code
        return None

    bot.script = script
    with pytest.raises(TimeoutError):
        await sb.slash(world.seed.fans[0], "script", timeout=0.5)
    assert await bot.outcome() == 50027


@pytest.mark.parametrize(("defer_ephemeral", "followup_ephemeral"), [(True, False), (False, True)])
async def test_first_followup_after_defer_fills_the_thinking_message(
    world: World, defer_ephemeral: bool, followup_ephemeral: bool
) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed

    async def script(interaction: discord.Interaction) -> list[int]:
        await interaction.response.defer(thinking=True, ephemeral=defer_ephemeral)
        first = await interaction.followup.send("answer", ephemeral=followup_ephemeral, wait=True)
        second = await interaction.followup.send("more", wait=True)
        return [first.id, second.id]

    bot.script = script
    res = await sb.slash(seed.fans[0], "script", channel=seed.drops)
    first_id, second_id = await bot.outcome()
    assert res.message is not None and first_id == res.message.id  # no new message
    assert res.content == "answer" and res.ephemeral is defer_ephemeral
    assert second_id != first_id and [m.content for m in res.followups] == ["answer", "more"]
    listed = [m.content for m in sb.messages(seed.drops.id)]
    # The second followup is a new message of its own (public: no ephemeral flag).
    assert listed == (["more"] if defer_ephemeral else ["answer", "more"])


async def test_second_acknowledgement_is_40060(world: World) -> None:
    sb, bot = world.sb, world.bot

    async def script(interaction: discord.Interaction) -> Any:
        await interaction.response.send_message("first")
        # Forget the answer, as a second worker holding the same token would.
        interaction.response._response_type = None
        try:
            await interaction.response.send_message("second")
        except discord.HTTPException as exc:
            return exc.status, exc.code
        return None

    bot.script = script
    res = await sb.slash(world.seed.fans[0], "script")
    assert await bot.outcome() == (400, 40060)
    assert res.content == "first"


async def test_disabled_button_cannot_be_pressed(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    view = discord.ui.View()
    view.add_item(ScriptButton("off", disabled=True))
    posted = await bot.get_partial_messageable(seed.drops.id).send("closed", view=view)
    with pytest.raises(SandboxError, match=r"'script:off' on message \d+ is disabled"):
        await sb.click(seed.fans[0], posted.id, "script:off")
    assert sb.stats["interactions"] == 0


async def test_interactions_from_dms_carry_user_and_no_guild(world: World) -> None:
    sb, bot, fan = world.sb, world.bot, world.seed.fans[0]

    async def script(interaction: discord.Interaction) -> Any:
        await interaction.response.send_message("in your DMs")
        return (
            interaction.guild_id,
            type(interaction.user).__name__,
            interaction.user.id,
            isinstance(interaction.channel, discord.DMChannel),
        )

    bot.script = script
    res = await sb.dm_slash(fan, "script")
    assert await bot.outcome() == (None, "User", fan.id, True)
    assert [m.content for m in sb.dms(fan.id)] == ["in your DMs"]
    view = discord.ui.View()
    view.add_item(ScriptButton("dm"))
    dm = await bot.create_dm(discord.Object(fan.id))
    posted = await dm.send("press me", view=view)
    await sb.click(fan.user, posted.id, "script:dm")
    assert (await bot.outcome())[0:2] == (None, "User")
    assert res.content == "in your DMs"
    with pytest.raises(SandboxError, match="no synced command /setup"):
        await sb.dm_slash(fan, "setup")  # a guild command does not exist in DMs


async def test_option_attachment_url_expires(world: World) -> None:
    sb, bot = world.sb, world.bot
    sb.limits.option_attachment_lifetime = 0.3
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    image = sb.attachment("moth.png", png, content_type="image/png")
    res = await sb.slash(world.seed.manager, "upload", {"image": image})
    assert res.content.startswith("moth.png image/png 28")  # read while fresh
    [stored] = [f for f in sb.world.files.values() if f.filename == "moth.png"]
    assert await bot.http.get_from_cdn(stored.url) == png
    await asyncio.sleep(0.35)
    with pytest.raises(discord.NotFound):
        await bot.http.get_from_cdn(stored.url)


async def test_control_endpoint_returns_the_final_answer_of_a_deferral(world: World) -> None:
    sb, bot = world.sb, world.bot

    async def script(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await asyncio.sleep(0.1)
        await interaction.followup.send("the real answer")

    bot.script = script
    url = f"{sb.base_url}/_sandbox/slash"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"name": "fan1", "command": "slow"}) as resp:
            slow = await resp.json()
        async with http.post(url, json={"name": "fan1", "command": "script"}) as resp:
            scripted = await resp.json()
    assert slow["response_type"] == 5 and slow["loading"] is False
    assert slow["content"] == "done" and slow["embeds"][0]["title"] == "Result"
    assert scripted["loading"] is False and scripted["content"] == "the real answer"
    assert scripted["ephemeral"] is True
