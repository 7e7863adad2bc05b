"""Collector roles under Discord's own rules, through the real bot and the sandbox: a tier role
moved above the bot's after /collector tier-set (Discord answers 50013), and many fans earning
a role at once under the per-server bucket of 10 member-role edits per 10 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.bot import Dropbell
from sandbox import Member, Sandbox
from sandbox.models import BOT_DEFAULT, MANAGE_ROLES
from sandbox.roles import MEMBER_ROLE_ROUTE
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.e2e.test_collectors import (
    _has_answer,
    _queue_empty,
    announce_here,
    notices,
    tier_set,
)
from tests.harness import Community, wait_for

ABOVE_BOT_NOTICE = "my own role must sit above it"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=50)
        yield running


async def links_for(
    sb: Sandbox, shop: SandboxShop, bot: Dropbell, community: Community, fans: list[Member]
) -> dict[int, str]:
    """One drop with a unit for every fan; each claims: fan id -> checkout session."""
    drop_id = await drop_opening_in(bot, community, 2, stock=len(fans))
    post = await opening_post(sb, community, drop_id)
    sessions = {}
    for fan in fans:
        answer = await sb.click(fan, post, f"dropbell:claim:{drop_id}")
        url = link_url(answer.components)
        assert url is not None, answer.content
        sessions[fan.id] = session_of(shop, url)
    return sessions


def _bot_sees_order(bot: Dropbell, guild_id: int, role_id: int, *, above: bool) -> bool:
    guild = bot.get_guild(guild_id)
    role = guild.get_role(role_id) if guild is not None else None
    if guild is None or role is None:
        return False
    return (role >= guild.me.top_role) is above


async def test_a_tier_role_moved_above_the_bot_is_told_once_and_granted_after_the_fix(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    bot_role = sandbox.world.roles[community.guild.bot_role_id]
    buyers = community.fans[:2]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await announce_here(sandbox, community)
        assert "cannot" not in await tier_set(sandbox, community, "Bronze", bronze, 1)
        links = await links_for(sandbox, shop, bot, community, buyers)
        # Someone drags Bronze above the bot's own role after the tier was set.
        sandbox.move_role(gid, bronze.id, bot_role.position)
        await wait_for(
            lambda: _bot_sees_order(bot, gid, bronze.id, above=True), what="the new order"
        )
        for buyer in buyers:
            await shop.stripe.complete(links[buyer.id])
        for buyer in buyers:  # the counts are kept
            await wait_for(partial(_has_answer, sandbox, buyer, "Drops bought: 1"), what="count")
        await wait_for(lambda: _queue_empty(bot), what="both grants tried")
        assert sandbox.invalid_request_breakdown()["403/50013"] == 2  # refused as Discord does
        await wait_for(lambda: notices(sandbox, community, ABOVE_BOT_NOTICE) >= 1, what="notice")
        assert notices(sandbox, community, ABOVE_BOT_NOTICE) == 1  # told once, not per fan
        assert all(bronze.id not in b.roles for b in buyers)

        # A manager fixes the order and sets the tier again: the changes owed are made.
        sandbox.move_role(gid, bronze.id, 1)
        await wait_for(
            lambda: _bot_sees_order(bot, gid, bronze.id, above=False), what="the fixed order"
        )
        assert "cannot" not in await tier_set(sandbox, community, "Bronze", bronze, 1)
        await wait_for(
            lambda: all(bronze.id in b.roles for b in buyers), what="the roles after the fix"
        )
        assert notices(sandbox, community, ABOVE_BOT_NOTICE) == 1
    finally:
        await runner.stop()


async def test_fifteen_roles_earned_at_once_are_all_granted_at_discords_pace(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    limits = sandbox.limits
    assert (limits.member_role_edits, limits.member_role_window) == (10, 10.0)  # Discord's
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    gold = sandbox.create_role(gid, "Gold")
    fans = [*community.fans, *(sandbox.create_member(gid, f"buyer{i}") for i in range(10))]
    assert len(fans) == 15
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        await tier_set(sandbox, community, "Gold", gold, 2)
        links = await links_for(sandbox, shop, bot, community, fans)
        sandbox.reset_request_counts()
        started = time.monotonic()
        await asyncio.gather(*(shop.stripe.complete(links[f.id]) for f in fans))
        await wait_for(
            lambda: all(bronze.id in f.roles for f in fans),
            timeout=30,
            what="Bronze for all fifteen",
        )
        took = time.monotonic() - started
        await wait_for(lambda: _queue_empty(bot), what="the queue drained")
        # Exactly the tier's role each: no Gold, nothing taken that was not theirs.
        assert all(f.roles == [bronze.id] for f in fans), [f.roles for f in fans]
        answers = [s for m, t, s in sandbox.requests if t == MEMBER_ROLE_ROUTE and m == "PUT"]
        # One 204 per fan: every 429 (if any) was waited out and retried, nothing else failed.
        assert answers.count(204) == len(fans), answers
        assert set(answers) <= {204, 429}, answers
        assert sandbox.request_counts()[f"DELETE {MEMBER_ROLE_ROUTE}"] == 0
        # 15 edits in a bucket of 10 per 10 s: the last ones waited for the window.
        assert took >= limits.member_role_window * 0.9, took
        print(f"15 grants in {took:.1f} s, PUT answers {sorted(set(answers))}: "
              f"{answers.count(429)} 429s")  # fmt: skip
    finally:
        await runner.stop()
