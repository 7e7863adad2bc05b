"""Collector tiers end to end: real purchases (sandbox shop webhooks) grant and take tier roles
in the sandbox's Discord, managers hear once about what they must fix, and profiles stay private
unless their owner opens them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.bot import Dropbell
from sandbox import Member, Role, Sandbox
from sandbox.models import BOT_DEFAULT, MANAGE_ROLES
from sandbox.shop.server import SandboxShop
from storage.states import Allocation
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.harness import Community, wait_for


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=50)
        yield running


async def tier_set(sb: Sandbox, community: Community, name: str, role: Role, minimum: int) -> str:
    answer = await sb.slash(
        community.manager,
        "collector tier-set",
        {"name": name, "role": role, "min_purchases": minimum},
    )
    assert answer.ephemeral
    return answer.content


async def claim_links(
    sb: Sandbox, shop: SandboxShop, bot: Dropbell, community: Community, fans: list[Member], n: int
) -> list[dict[int, str]]:
    """``n`` drops opening together; each fan claims in each. Per drop: fan id -> session."""
    drop_ids = [
        await drop_opening_in(bot, community, 2, stock=5, name=f"Night Moth {i}") for i in range(n)
    ]
    sessions: list[dict[int, str]] = []
    for drop_id in drop_ids:
        post = await opening_post(sb, community, drop_id)
        per_fan = {}
        for fan in fans:
            answer = await sb.click(fan, post, f"dropbell:claim:{drop_id}")
            url = link_url(answer.components)
            assert url is not None, answer.content
            per_fan[fan.id] = session_of(shop, url)
        sessions.append(per_fan)
    return sessions


def notices(sb: Sandbox, community: Community, words: str) -> int:
    return sum(words in m.content for m in sb.messages(community.drops.id))


async def announce_here(sb: Sandbox, community: Community) -> None:
    await sb.slash(community.manager, "dropbell setup", {"announce_channel": community.drops})


async def test_purchases_grant_tier_roles_and_a_refund_takes_one_back(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    gold = sandbox.create_role(gid, "Gold")
    fan = community.fans[0]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        assert "fans with 1 purchase or more" in await tier_set(
            sandbox, community, "Bronze", bronze, 1
        )
        said = await tier_set(sandbox, community, "Gold", gold, 2)
        assert "2 purchases" in said and "cannot" not in said
        first, second = await claim_links(sandbox, shop, bot, community, [fan], 2)

        await shop.stripe.complete(first[fan.id])
        await wait_for(lambda: bronze.id in fan.roles, what="Bronze after one purchase")
        assert gold.id not in fan.roles
        await shop.stripe.complete(second[fan.id])
        await wait_for(
            lambda: gold.id in fan.roles and bronze.id not in fan.roles,
            what="Gold instead of Bronze after two purchases",
        )
        at_gold = (await sandbox.slash(fan, "collector profile")).content
        assert "Current streak: 2 drops in a row" in at_gold and "Tier: **Gold**" in at_gold
        assert "The highest tier of this server." in at_gold and "First purchase: <t:" in at_gold
        await shop.stripe.refund(second[fan.id])
        await wait_for(
            lambda: bronze.id in fan.roles and gold.id not in fan.roles,
            what="back to Bronze after the refund",
        )
        profile = await sandbox.slash(fan, "collector profile")
        assert profile.ephemeral
        assert "Drops bought: 1" in profile.content and "Drops joined: 2" in profile.content
        assert "Tier: **Bronze**" in profile.content
        assert "1 more purchase to reach **Gold**" in profile.content
        # The second drop (refunded: not bought) is still selling, so the fan may buy again:
        # it breaks nothing yet, and the first one still counts.
        assert "Current streak: 1 drop in a row" in profile.content
    finally:
        await runner.stop()


async def test_missing_manage_roles_is_told_once_and_counts_are_kept(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id  # the bot was invited without Manage Roles
    bronze = sandbox.create_role(gid, "Bronze")
    buyers = community.fans[:2]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await announce_here(sandbox, community)
        said = await tier_set(sandbox, community, "Bronze", bronze, 1)
        assert "Manage Roles" in said and "tier-set again" in said  # accepted, with the fix
        (links,) = await claim_links(sandbox, shop, bot, community, buyers, 1)
        for buyer in buyers:
            await shop.stripe.complete(links[buyer.id])
        for buyer in buyers:  # the counts are kept
            await wait_for(partial(_has_answer, sandbox, buyer, "Drops bought: 1"), what="count")
        await wait_for(partial(_queue_empty, bot), what="both role changes tried")
        assert sandbox.invalid_request_breakdown()["403/50013"] == 2
        await wait_for(lambda: notices(sandbox, community, "Manage Roles") >= 1, what="notice")
        assert notices(sandbox, community, "Manage Roles") == 1
        assert all(bronze.id not in b.roles for b in buyers)

        # The manager fixes it and sets the tier again: the roles owed are handed out.
        sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
        await wait_for(lambda: _bot_sees_manage_roles(bot, gid), what="the permission change")
        assert "cannot" not in await tier_set(sandbox, community, "bronze", bronze, 1)
        await wait_for(
            lambda: all(bronze.id in b.roles for b in buyers), what="the roles after the fix"
        )
    finally:
        await runner.stop()


async def _has_answer(sb: Sandbox, member: Member, words: str) -> bool:
    return words in (await sb.slash(member, "collector profile")).content


async def _queue_empty(bot: Dropbell) -> bool:
    return not await bot.services.collectors.store.pending_round(5, 10)


def _bot_sees_manage_roles(bot: Dropbell, guild_id: int) -> bool:
    guild = bot.get_guild(guild_id)
    return guild is not None and guild.me.guild_permissions.manage_roles


async def test_a_deleted_role_disables_its_tier_with_one_notice(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await announce_here(sandbox, community)
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        sandbox.delete_role(gid, bronze.id)
        await wait_for(lambda: notices(sandbox, community, "was deleted") == 1, what="notice")
        listing = await sandbox.slash(community.manager, "collector tiers")
        assert (
            "**Bronze**" in listing.content and "disabled: its role was deleted" in listing.content
        )
        fan = community.fans[0]
        # Collectors-first no longer counts the tier (the per-process cache followed).
        assert not bot.services.collectors.tier_roles(gid)
        removed = await sandbox.slash(
            community.manager, "collector tier-remove", {"name": "bronze"}
        )
        assert "removed" in removed.content
        assert (
            "no collector tiers"
            in (await sandbox.slash(community.manager, "collector tiers")).content
        )
        assert notices(sandbox, community, "was deleted") == 1
        assert fan.roles == []
    finally:
        await runner.stop()


async def test_another_members_profile_needs_their_opt_in(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    owner, curious = community.fans[:2]
    runner, _bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        refused = await sandbox.slash(curious, "collector profile", {"member": owner})
        assert refused.ephemeral and "keeps their collector profile private" in refused.content
        assert "Drops" not in refused.content
        own = await sandbox.slash(owner, "collector profile")
        assert "Your profile is private" in own.content and own.message is not None
        opened = await sandbox.click(owner, own.message, "dropbell:collector-visibility:0")
        assert "Your profile is public" in opened.content
        shown = await sandbox.slash(curious, "collector profile", {"member": owner})
        assert f"Collector profile of <@{owner.id}>" in shown.content
        assert "Your profile" not in shown.content and not shown.components
        closed = await sandbox.click(owner, own.message, "dropbell:collector-visibility:1")
        assert "Your profile is private" in closed.content
        again = await sandbox.slash(curious, "collector profile", {"member": owner})
        assert "private" in again.content
    finally:
        await runner.stop()


async def test_tier_set_refusals_change_nothing(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    silver = sandbox.create_role(gid, "Silver")
    above = sandbox.create_role(gid, "Staff", position=len(community.guild.role_ids))
    everyone = sandbox.world.roles[gid]
    bot_role = sandbox.world.roles[community.guild.bot_role_id]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        refusals = {
            "@everyone cannot be": ("Gold", everyone, 3),
            "belongs to an integration": ("Gold", bot_role, 3),
            "is already the role of the tier **Bronze**": ("Gold", bronze, 3),
            "already starts at 1": ("Silver", silver, 1),
        }
        for words, (name, role, minimum) in refusals.items():
            said = await tier_set(sandbox, community, name, role, minimum)
            assert words in said, said
        assert [t.name for t in await bot.services.collectors.tiers(gid)] == ["Bronze"]
        fan = await sandbox.slash(community.fans[0], "collector tier-set",
                                  {"name": "Gold", "role": silver, "min_purchases": 2})  # fmt: skip
        assert fan.ephemeral and "manage" in fan.content.lower()
        out_of_reach = await tier_set(sandbox, community, "Staff", above, 5)
        assert "move my own role above" in out_of_reach
        assert len(await bot.services.collectors.tiers(gid)) == 2
    finally:
        await runner.stop()


async def test_collectors_first_lets_tier_holders_in_at_opening(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    gold = sandbox.create_role(gid, "Gold")
    collector, newcomer = community.fans[:2]
    collector.roles.append(gold.id)  # earned earlier
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Gold", gold, 3)
        drop_id = await drop_opening_in(
            bot, community, 2, stock=5, allocation=Allocation.COLLECTORS_FIRST,
            early_access_minutes=30,
        )  # fmt: skip
        post = await opening_post(sandbox, community, drop_id)
        let_in = await sandbox.click(collector, post, f"dropbell:claim:{drop_id}")
        assert link_url(let_in.components) is not None, let_in.content
        refused = await sandbox.click(newcomer, post, f"dropbell:claim:{drop_id}")
        assert link_url(refused.components) is None and "waitlist" in refused.content
    finally:
        await runner.stop()


async def test_role_changes_pending_at_a_stop_are_made_after_the_restart(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    fan = community.fans[0]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        (links,) = await claim_links(sandbox, shop, bot, community, [fan], 1)
        await bot.services.collectors.queue.stop()  # as if the bot stopped right after
        await shop.stripe.complete(links[fan.id])
        assert not await _queue_empty(bot)
        assert bronze.id not in fan.roles
    finally:
        await runner.stop()
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await wait_for(lambda: bronze.id in fan.roles, what="the role after the restart")
        # A tier given another role: fans already there swap roles.
        renewed = sandbox.create_role(gid, "Bronze (2026)")
        await tier_set(sandbox, community, "Bronze", renewed, 1)
        await wait_for(
            lambda: renewed.id in fan.roles and bronze.id not in fan.roles, what="the new role"
        )
    finally:
        await runner.stop()


async def test_a_role_deleted_while_nobody_listened_is_found_by_the_queue(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    fan = community.fans[0]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await announce_here(sandbox, community)
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        (links,) = await claim_links(sandbox, shop, bot, community, [fan], 1)
        # Deleted while the bot was away: no GUILD_ROLE_DELETE reaches it, Discord answers 10011.
        del sandbox.world.roles[bronze.id]
        community.guild.role_ids.remove(bronze.id)
        await shop.stripe.complete(links[fan.id])
        await wait_for(lambda: notices(sandbox, community, "was deleted") == 1, what="notice")
        (tier,) = await bot.services.collectors.tiers(gid)
        assert tier.disabled_reason is not None and not bot.services.collectors.tier_roles(gid)
        assert "Drops bought: 1" in (await sandbox.slash(fan, "collector profile")).content
    finally:
        await runner.stop()


async def test_forget_takes_the_collector_role_away(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id
    sandbox.set_bot_permissions(gid, BOT_DEFAULT | MANAGE_ROLES)
    bronze = sandbox.create_role(gid, "Bronze")
    fan = community.fans[0]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        (links,) = await claim_links(sandbox, shop, bot, community, [fan], 1)
        await shop.stripe.complete(links[fan.id])
        await wait_for(lambda: bronze.id in fan.roles, what="Bronze after one purchase")
        prompt = await sandbox.slash(fan, "privacy forget")
        assert prompt.message is not None
        done = await sandbox.click(fan, prompt.message, f"dropbell:forget:{fan.id}")
        assert "collector roles are being removed" in done.content
        # The forget's transaction queued the removal and woke the queue: no minute-long poll.
        await wait_for(lambda: bronze.id not in fan.roles, timeout=5, what="Bronze removed")
        profile = await sandbox.slash(fan, "collector profile")
        assert "Drops bought: 0" in profile.content
    finally:
        await runner.stop()
