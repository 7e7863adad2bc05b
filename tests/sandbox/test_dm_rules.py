"""Buttons in DMs, as Discord has them: a press in a bot's DM arrives with ``user`` (no member,
no guild), ``context`` 1 (BOT_DM) and a type-1 channel; it may be answered ephemerally, as in a
server; a member who left is 10007 to GET member; a user who shares no server with the bot
cannot be DMed (50007)."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from sandbox import SandboxError

from .barebot import ScriptButton
from .conftest import World


async def _dm_with_button(world: World, user_id: int, name: str) -> discord.Message:
    view = discord.ui.View(timeout=None)
    view.add_item(ScriptButton(name))
    dm = await world.bot.create_dm(discord.Object(user_id))
    return await dm.send("press me", view=view)


async def test_a_button_pressed_in_a_dm_is_a_bot_dm_interaction(world: World) -> None:
    sb, bot, fan = world.sb, world.bot, world.seed.fans[0]
    posted = await _dm_with_button(world, fan.id, "dm")

    async def script(interaction: discord.Interaction) -> Any:
        await interaction.response.send_message("only you", ephemeral=True)
        return (
            interaction.guild_id,
            type(interaction.user).__name__,
            interaction.context.dm_channel,
            interaction.context.guild,
            getattr(interaction.channel, "type", None),
            interaction.message.id if interaction.message else None,
        )

    bot.script = script
    res = await sb.click(fan.user, posted.id, "script:dm")
    assert await bot.outcome() == (
        None,
        "User",
        True,
        False,
        discord.ChannelType.private,
        posted.id,
    )
    # Discord takes the ephemeral flag in a DM as in a server: shown to the fan, not kept.
    assert res.ephemeral and res.content == "only you"
    assert [m.content for m in sb.dms(fan.id)] == ["press me"]


async def test_a_dm_button_is_pressed_only_by_its_recipient(world: World) -> None:
    sb, fans = world.sb, world.seed.fans
    posted = await _dm_with_button(world, fans[0].id, "mine")
    with pytest.raises(SandboxError, match="another user's DMs"):
        await sb.click(fans[1].user, posted.id, "script:mine")
    assert sb.stats["interactions"] == 0


async def test_a_member_who_left_is_unknown_to_get_member(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    fan = seed.fans[1]
    guild = bot.get_guild(seed.guild.id)
    assert guild is not None
    fetched = await guild.fetch_member(fan.id)
    assert fetched.id == fan.id and fetched.joined_at is not None
    sb.remove_member(seed.guild.id, fan.id)
    with pytest.raises(discord.NotFound) as caught:
        await guild.fetch_member(fan.id)
    assert caught.value.code == 10007


async def test_no_dm_to_a_user_who_shares_no_server_with_the_bot(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    fan = seed.fans[2]
    dm = await bot.create_dm(discord.Object(fan.id))
    await dm.send("while a member")
    sb.remove_member(seed.guild.id, fan.id)
    with pytest.raises(discord.Forbidden) as caught:
        await dm.send("after leaving")
    assert caught.value.code == 50007
    assert [m.content for m in sb.dms(fan.id)] == ["while a member"]
    assert sb.invalid_request_breakdown() == {"403/50007": 1}
