"""No command in one server shows another server's rows. Two servers hold the same kind of data
under the same names (a drop, its waitlist, a poll with commitments, a tier; one fan is a
member of both); every fan and manager read in server A, and every autocomplete, shows nothing
of server B (its ids, members, channels, counts), and B's ids typed into A are unknown there."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.models import Member, Message
from sandbox.results import InteractionResult
from tests.e2e.poll_support import commit, create_poll, poll_id_of
from tests.e2e.security_support import snapshot
from tests.harness import (
    Community,
    InProcessBot,
    build_community,
    create_drop,
    drop_id_of,
    settings_for,
)


def everything_in(result: InteractionResult) -> str:
    """All a member can read in an answer: text, embeds, files, choices, followups."""
    messages: list[Message] = [m for m in [result.message, *result.followups] if m is not None]
    parts = [json.dumps(result.choices)]
    for message in messages:
        parts += [message.content, json.dumps(message.embeds)]
        parts += [f"{f.filename}\n{f.data.decode('utf-8', 'replace')}" for f in message.attachments]
    return "\n".join(parts)


async def fill(sb: Sandbox, server: Community, fans: list[Member]) -> tuple[int, int]:
    """The same drop, poll and tier in a server; ``fans`` join the waitlist and commit."""
    drop = drop_id_of(await create_drop(sb, server))
    post = await create_poll(sb, server)
    gold = sb.create_role(server.guild.id, "Gold")
    tier = {"name": "Gold", "role": gold, "min_purchases": 1}
    await sb.slash(server.manager, "collector tier-set", tier)
    for fan in fans:
        joined = await sb.slash(fan, "waitlist join", {"drop": str(drop)})
        assert "You're #" in joined.content, joined.content
        await commit(sb, fan, post, 0, 2)
    return drop, poll_id_of(post)


async def test_a_server_sees_none_of_another_servers_rows(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    sandbox.relax("channel_send_limit", reason="a drop and a poll in each server's channel")
    other = build_community(sandbox, "Other Club")
    runner = InProcessBot(settings_for(sandbox, database_path, dev_guild_id=None))
    bot = await runner.start()
    try:
        await bot.tree.sync()  # global commands, as `dropbell sync` publishes them
        shared = community.fans[0]
        joined_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        shared_in_b = sandbox.world.add_member(other.guild.id, shared.user, joined_at=joined_at)
        a_drop, a_poll = await fill(sandbox, community, [shared])
        b_drop, b_poll = await fill(sandbox, other, [shared_in_b, *other.fans[:3]])
        await read_everything_in_a(
            sandbox, bot, community, (a_drop, a_poll), other, (b_drop, b_poll)
        )
    finally:
        await runner.stop()


async def read_everything_in_a(
    sb: Sandbox, bot: Dropbell, a: Community, a_ids: tuple[int, int], b: Community,
    b_ids: tuple[int, int],
) -> None:  # fmt: skip
    (a_drop, a_poll), (b_drop, b_poll) = a_ids, b_ids
    manager, fan = a.manager, a.fans[0]
    reads: list[tuple[Member, str, dict[str, Any]]] = [
        (manager, "drop list", {}),
        (manager, "drop show", {"drop": str(a_drop)}),
        (manager, "drop show", {"drop": "Night Moth Tee"}),
        (manager, "drop export", {"drop": str(a_drop)}),
        (manager, "poll results", {"poll": str(a_poll)}),
        (manager, "insights", {}),
        (manager, "insights", {"drop": str(a_drop)}),
        (manager, "announce list", {}),
        (manager, "collector tiers", {}),
        (manager, "collector profile", {"member": fan}),
        (fan, "collector profile", {}),
        (fan, "waitlist status", {}),
        (fan, "privacy export", {}),
    ]
    seen = []
    for who, command, options in reads:
        answer = await (await sb.slash(who, command, options)).wait_final()
        seen.append((f"/{command} {options}", everything_in(answer)))
    completions = [
        ("waitlist join", "drop"), ("waitlist leave", "drop"), ("drop show", "drop"),
        ("drop export", "drop"), ("insights", "drop"), ("poll results", "poll"),
        ("poll close", "poll"), ("collector tier-set", "name"), ("announce cancel", "announcement"),
    ]  # fmt: skip
    b_values = {str(b_drop), str(b_poll)} - {str(a_drop), str(a_poll)}
    for command, option in completions:
        choices = await sb.autocomplete(manager, command, {option: ""}, focused=option)
        # Drop and poll ids are small numbers: compared as values, not searched in text.
        assert not {str(c["value"]) for c in choices} & b_values, (command, choices)
        seen.append((f"/{command} {option} (autocomplete)", json.dumps(choices)))
    # B's snowflakes (server, channels, members), its name, and its waitlist's size (4; A: 1).
    b_marks = {str(b.guild.id), b.guild.name, "of 4", "4 fans"}
    b_marks |= {str(m.id) for m in [b.manager, *b.fans]} | {str(b.drops.id), str(b.general.id)}
    b_marks |= {f"drop-{b_drop}.csv", f"poll-{b_poll}"}
    leaks = [(what, mark) for what, text in seen for mark in b_marks if mark in text]
    assert leaks == []
    assert any(f"drop-{a_drop}.csv" in text for _, text in seen)  # A's own rows were shown

    # B's ids typed into A: unknown here, one sentence, nothing changed.
    typed: list[tuple[Member, str, dict[str, Any]]] = [
        (manager, "drop show", {"drop": str(b_drop)}),
        (manager, "drop export", {"drop": str(b_drop)}),
        (manager, "drop cancel", {"drop": str(b_drop)}),
        (manager, "drop open", {"drop": str(b_drop)}),
        (manager, "drop edit", {"drop": str(b_drop), "stock": 5}),
        (manager, "insights", {"drop": str(b_drop)}),
        (manager, "poll results", {"poll": str(b_poll)}),
        (manager, "poll close", {"poll": str(b_poll)}),
        (fan, "waitlist join", {"drop": str(b_drop)}),
        (fan, "waitlist leave", {"drop": str(b_drop)}),
    ]
    for who, command, options in typed:
        before = await snapshot(sb, bot)
        answer = await (await sb.slash(who, command, options)).wait_final()
        text = everything_in(answer)
        assert answer.ephemeral or all(m.ephemeral for m in answer.followups), command
        assert not (answer.message and answer.message.attachments), command
        assert "can't find" in text or "no drop called" in text or "no poll" in text, (
            command,
            text,
        )
        assert await snapshot(sb, bot) == before, command


async def test_servers_cannot_see_each_others_drops(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    other = build_community(sandbox, "Other Club")
    runner = InProcessBot(settings_for(sandbox, database_path, dev_guild_id=None))
    bot = await runner.start()
    try:
        await bot.tree.sync()  # global commands, as `dropbell sync` publishes them
        await _check_isolation(sandbox, community, other)
    finally:
        await runner.stop()


async def _check_isolation(sandbox: Sandbox, community: Community, other: Community) -> None:
    await create_drop(sandbox, community)
    choices = await sandbox.autocomplete(
        other.manager, "waitlist join", {"drop": ""}, focused="drop"
    )
    assert choices == []
    mine = await sandbox.autocomplete(
        community.fans[0], "waitlist join", {"drop": "moth"}, focused="drop"
    )
    assert [c["name"].split(" · ")[0] for c in mine] == ["Night Moth Tee"]
    drop_id = mine[0]["value"]
    answer = await sandbox.slash(other.fans[0], "waitlist join", {"drop": drop_id})
    assert "no drop called" in answer.content or "can't find that drop" in answer.content
    export = await sandbox.slash(other.manager, "drop export", {"drop": drop_id})
    assert not export.attachments
    status = await sandbox.slash(other.fans[0], "waitlist status")
    assert "not on any waitlist" in status.content
