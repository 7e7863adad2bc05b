"""Adding and removing a member's role, as Discord guards it, through a bare discord.py bot."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from sandbox.gateway import GUILD_MEMBERS
from sandbox.models import ADMINISTRATOR, BOT_DEFAULT, MANAGE_ROLES

from .conftest import World


async def _settled(bot: discord.Client, check: object) -> None:
    for _ in range(50):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bot's cache never followed the gateway")


async def test_member_roles_need_manage_roles_and_a_role_below_the_bot(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    gid, fan = seed.guild.id, seed.fans[0]
    sb.relax("member_role_limit", reason="checks every answer in a row, not the pacing")
    gold = sb.create_role(gid, "Gold")
    bot_role = sb.world.roles[seed.guild.bot_role_id]
    assert gold.position == 1 and bot_role.position > gold.position  # new roles sit low
    above = sb.create_role(gid, "Staff", position=bot_role.position + 1)
    assert above.position > bot_role.position

    with pytest.raises(discord.Forbidden) as lacking:
        await bot.http.add_role(gid, fan.id, gold.id, reason="tier")
    assert lacking.value.code == 50013 and lacking.value.text == "Missing Permissions"
    assert gold.id not in fan.roles

    sb.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    await bot.http.add_role(gid, fan.id, gold.id, reason="tier")
    await bot.http.add_role(gid, fan.id, gold.id, reason="again: harmless")
    assert fan.roles.count(gold.id) == 1
    for out_of_reach in (above.id, bot_role.id, gid):  # above the bot, managed, @everyone
        with pytest.raises(discord.Forbidden) as refused:
            await bot.http.add_role(gid, fan.id, out_of_reach)
        assert refused.value.code == 50013
    with pytest.raises(discord.NotFound) as no_role:
        await bot.http.add_role(gid, fan.id, 4242)
    assert no_role.value.code == 10011
    with pytest.raises(discord.NotFound) as no_member:
        await bot.http.add_role(gid, 4242, gold.id)
    assert no_member.value.code == 10007

    await bot.http.remove_role(gid, fan.id, gold.id, reason="refund")
    await bot.http.remove_role(gid, fan.id, gold.id, reason="not held: still 204")
    assert gold.id not in fan.roles

    sb.set_bot_permissions(gid, ADMINISTRATOR)  # Administrator implies Manage Roles
    await bot.http.add_role(gid, fan.id, gold.id)
    assert gold.id in fan.roles


async def test_a_role_moved_above_the_bot_is_refused_until_moved_back(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    gid, fan = seed.guild.id, seed.fans[0]
    sb.relax("member_role_limit", reason="checks the answers in a row, not the pacing")
    sb.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    gold = sb.create_role(gid, "Gold")
    bot_role = sb.world.roles[seed.guild.bot_role_id]
    guild = bot.get_guild(gid)
    assert guild is not None
    await bot.http.add_role(gid, fan.id, gold.id)  # grantable where it was created

    top = bot_role.position
    sb.move_role(gid, gold.id, top)  # dragged onto the bot's place: the bot's role steps down
    assert gold.position == top and bot_role.position == top - 1
    await _settled(bot, lambda: (guild.get_role(gold.id) or guild.default_role) > guild.me.top_role)
    for edit in (bot.http.remove_role, bot.http.add_role):
        with pytest.raises(discord.Forbidden) as refused:
            await edit(gid, fan.id, gold.id)
        assert refused.value.code == 50013
    assert gold.id in fan.roles  # the refused removal changed nothing

    sb.move_role(gid, gold.id, 1)  # a manager fixes the order
    assert gold.position < bot_role.position
    await bot.http.remove_role(gid, fan.id, gold.id)
    assert gold.id not in fan.roles


async def test_member_updates_follow_the_members_intent(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    gid, fan = seed.guild.id, seed.fans[1]
    sb.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    gold = sb.create_role(gid, "Gold")
    session = sb.gateway.current
    assert session is not None

    def updates() -> int:
        return sum('"GUILD_MEMBER_UPDATE"' in text for _, text in session.buffer)

    await bot.http.add_role(gid, fan.id, gold.id)
    assert updates() == 0  # the bare bot did not ask for the members intent
    session.intents |= GUILD_MEMBERS
    await bot.http.remove_role(gid, fan.id, gold.id)
    await bot.http.remove_role(gid, fan.id, gold.id)  # no change: no event
    assert updates() == 1


async def test_a_deleted_role_leaves_members_and_reaches_the_bot(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    gid, fan = seed.guild.id, seed.fans[2]
    sb.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    gold = sb.create_role(gid, "Gold")
    guild = bot.get_guild(gid)
    assert guild is not None
    await _settled(bot, lambda: guild.get_role(gold.id) is not None)
    await bot.http.add_role(gid, fan.id, gold.id)
    sb.delete_role(gid, gold.id)
    assert gold.id not in fan.roles
    await _settled(bot, lambda: guild.get_role(gold.id) is None)
    with pytest.raises(discord.NotFound) as gone:
        await bot.http.add_role(gid, fan.id, gold.id)
    assert gone.value.code == 10011


async def test_member_role_edits_share_a_bucket_per_guild(world: World) -> None:
    sb, bot, seed = world.sb, world.bot, world.seed
    gid = seed.guild.id
    sb.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    sb.limits.member_role_edits, sb.limits.member_role_window = 3, 1.0
    sb.relax("member_role_limit", reason="re-installed below with a small bucket")
    sb.enforce("member_role_limit")
    gold = sb.create_role(gid, "Gold")
    started = time.monotonic()
    for fan in seed.fans:
        await bot.http.add_role(gid, fan.id, gold.id)
    await bot.http.remove_role(gid, seed.fans[0].id, gold.id)  # the same bucket as PUT
    assert time.monotonic() - started >= 0.5  # discord.py waited the bucket out
    assert all(gold.id in f.roles for f in seed.fans[1:]) and gold.id not in seed.fans[0].roles
