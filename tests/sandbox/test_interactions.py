"""Slash commands, buttons, deferrals, followups and files through a real discord.py bot."""

from __future__ import annotations

import datetime as dt

import discord
import pytest

from sandbox import SandboxError
from sandbox.models import snowflake_time

from .barebot import BUTTON_LABEL, FILE_BYTES
from .conftest import World


async def test_login_and_handshake_cache_the_guild(world: World) -> None:
    sb, seed, bot = world.sb, world.seed, world.bot
    assert bot.user is not None and bot.user.id == sb.bot_user_id
    assert bot.application_id == sb.application_id
    guild = bot.get_guild(seed.guild.id)
    assert guild is not None and guild.name == "Sandbox Server"
    assert {c.name for c in guild.text_channels} == {"general", "drops"}
    assert guild.member_count == 6  # bot, owner, manager, 3 fans
    assert guild.get_member(seed.manager.id) is None  # no GUILD_MEMBERS intent: not listed
    assert guild.me is not None and guild.me.guild_permissions.manage_events
    assert sb.stats["identifies"] == 1
    counts = sb.request_counts()
    assert counts["GET /users/@me"] == 1 and counts["GET /oauth2/applications/@me"] == 1


async def test_command_sync_is_stored_with_ids(world: World) -> None:
    sb, seed = world.sb, world.seed
    names = {c["name"] for c in sb.commands()}
    assert {"ping", "waitlist", "dm-me", "file", "event"} <= names
    waitlist = next(c for c in sb.commands() if c["name"] == "waitlist")
    assert {o["name"] for o in waitlist["options"]} == {"join", "typed"}
    assert all(
        int(c["id"]) > 0 and c["application_id"] == str(sb.application_id) for c in sb.commands()
    )
    guild_cmds = sb.commands(seed.guild.id)
    assert [c["name"] for c in guild_cmds] == ["setup"]
    assert guild_cmds[0]["default_member_permissions"] == str(
        discord.Permissions(manage_guild=True).value
    )
    fetched = await world.bot.tree.fetch_commands()
    assert {c.name for c in fetched} == names


async def test_ping_answers_pong_and_posts_a_message(world: World) -> None:
    sb, seed = world.sb, world.seed
    res = await sb.slash(seed.fans[0], "ping", channel=seed.drops)
    assert res.response_type == 4 and res.content == "pong" and not res.ephemeral
    assert 0 < res.latency < 1
    posted = sb.messages(seed.drops.id)
    assert [m.content for m in posted] == ["pong"] and posted[0].author_id == sb.bot_user_id


async def test_typed_options_resolve_to_the_right_types(world: World) -> None:
    sb, seed = world.sb, world.seed
    created = dt.datetime(2019, 5, 17, 12, tzinfo=dt.UTC)
    fan = sb.create_member(seed.guild.id, "oldtimer", account_created_at=created)
    assert snowflake_time(fan.id).date() == created.date()
    res = await sb.slash(
        seed.fans[0],
        "waitlist typed",
        {
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "member": fan,
            "channel": seed.drops,
            "role": seed.manager_role,
        },
    )
    assert res.content == (
        "count=3:int ratio=0.5:float flag=True member=oldtimer:Member created=2019-05-17 "
        "channel=drops:TextChannel role=Manager:Role"
    )


async def test_unknown_commands_and_options_are_refused(world: World) -> None:
    sb, fan = world.sb, world.seed.fans[0]
    with pytest.raises(SandboxError, match="no synced command"):
        await sb.slash(fan, "nope")
    with pytest.raises(SandboxError, match="no option 'colour'"):
        await sb.slash(fan, "waitlist join", {"drop": "x", "colour": "red"})
    with pytest.raises(SandboxError, match="requires option 'drop'"):
        await sb.slash(fan, "waitlist join", {})
    with pytest.raises(SandboxError, match="outside"):
        await sb.slash(fan, "waitlist typed", {"count": 11, "ratio": 1.0, "flag": False,
                                               "member": fan, "channel": world.seed.drops,
                                               "role": world.seed.manager_role})  # fmt: skip


async def test_string_options_outside_their_lengths_never_leave_the_client(
    world: World,
) -> None:
    sb, fan = world.sb, world.seed.fans[0]
    with pytest.raises(SandboxError, match="longer than 20"):
        await sb.slash(fan, "waitlist join", {"drop": "Luna Cap", "note": "x" * 21})
    with pytest.raises(SandboxError, match="shorter than 2"):
        await sb.slash(fan, "waitlist join", {"drop": "Luna Cap", "note": "x"})
    answer = await sb.slash(fan, "waitlist join", {"drop": "Luna Cap", "note": "x" * 20})
    assert answer.content == f"joined Luna Cap note={'x' * 20}"


async def test_subcommand_with_optional_option_is_ephemeral(world: World) -> None:
    res = await world.sb.slash(
        world.seed.fans[1], "waitlist join", {"drop": "Night Moth Tee", "note": "size M"}
    )
    assert res.ephemeral and res.content == "joined Night Moth Tee note=size M"
    assert world.sb.messages(world.seed.general.id) == []  # ephemeral replies are not posted


async def test_manager_command_is_not_enforced_by_the_sandbox(world: World) -> None:
    sb, seed = world.sb, world.seed
    assert (await sb.slash(seed.fans[0], "setup")).content == "manage_guild=False"
    assert (await sb.slash(seed.manager, "setup")).content == "manage_guild=True"


async def test_persistent_button_click(world: World) -> None:
    sb, seed = world.sb, world.seed
    posted = await sb.slash(seed.manager, "post-button", {"drop_id": 12}, channel=seed.drops)
    message = posted.message
    assert message is not None and message.custom_ids() == {"dropbell:join:12": 2}
    assert posted.components[0]["components"][0]["label"] == BUTTON_LABEL
    sb.reset_request_counts()
    res = await sb.click(seed.fans[2], message, "dropbell:join:12")
    assert res.ephemeral and res.content == f"{seed.fans[2].name} joined drop 12"
    assert sum(sb.request_counts().values()) == 1  # one REST call per click
    with pytest.raises(SandboxError, match="no component"):
        await sb.click(seed.fans[2], message, "dropbell:join:13")


async def test_deferred_then_edited(world: World) -> None:
    res = await world.sb.slash(world.seed.fans[0], "slow")
    assert res.response_type == 5 and res.ephemeral
    await res.wait_edit(timeout=5)
    assert res.content == "done" and res.embeds[0]["title"] == "Result"
    assert res.text == "done\nResult\nall good"


async def test_followup(world: World) -> None:
    res = await world.sb.slash(world.seed.fans[0], "multi")
    assert res.content == "first" and not res.ephemeral
    followup = await res.wait_followup(1, timeout=5)
    assert followup.content == "second" and followup.ephemeral
    assert [m.content for m in world.sb.messages(world.seed.general.id)] == ["first"]


async def test_dm_and_closed_dm(world: World) -> None:
    sb, fan, other = world.sb, world.seed.fans[0], world.seed.fans[1]
    assert (await sb.slash(fan, "dm-me")).content == "sent"
    assert [m.content for m in sb.dms(fan.id)] == ["hello in your DMs"]
    sb.close_dms(other.id)
    assert (await sb.slash(other, "dm-me")).content == "forbidden 50007"
    assert sb.dms(other.id) == []


async def test_file_upload_is_readable(world: World) -> None:
    res = await world.sb.slash(world.seed.fans[0], "file")
    assert res.attachments == [("moth.txt", FILE_BYTES, "text/plain")]
    assert res.content == "here"


async def test_attachment_option_is_served_over_loopback(world: World) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    att = world.sb.attachment("moth.png", png, content_type="image/png")
    res = await world.sb.slash(world.seed.manager, "upload", {"image": att})
    assert res.content == "moth.png image/png 108 b'\\x89PNG'"


async def test_autocomplete(world: World) -> None:
    choices = await world.sb.autocomplete(
        world.seed.fans[0], "waitlist join", {"drop": "moth"}, focused="drop"
    )
    assert [c["value"] for c in choices] == ["Night Moth Tee", "Night Moth Hoodie"]


async def test_role_mention_is_recorded(world: World) -> None:
    sb, seed = world.sb, world.seed
    res = await sb.slash(seed.manager, "announce", {"role": seed.manager_role}, channel=seed.drops)
    assert res.content == "announced"
    [posted] = sb.messages(seed.drops.id)
    assert posted.mention_roles == [seed.manager_role.id]


async def test_unanswered_interaction_times_out_clearly(world: World) -> None:
    await world.bot.close()
    with pytest.raises(TimeoutError, match="did not answer /ping"):
        await world.sb.slash(world.seed.fans[0], "ping", timeout=0.3)
