"""The thank-you DM after a purchase (issue 13), end to end: real shop webhooks from the sandbox
shop, the real bot, DMs and a button pressed in a DM through the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bot import Dropbell
from sandbox import Member, Message, Sandbox
from sandbox.shop.server import SandboxShop
from sandbox.shop.stripe_wire import Delivery
from services.drops.rules import DropSpec
from services.localtime import utcnow
from tests.databases import query
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.harness import Community, InProcessBot, wait_for

THANKS = "Thank you for buying"
NEXT_NAME = "Luna Cap"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=5)
        yield running


def thank_you_dms(sb: Sandbox, user_id: int) -> list[Message]:
    return [message for message in sb.dms(user_id) if THANKS in message.content]


def followup_rows(path: Path) -> list[tuple[int, str, int | None, int | None]]:
    """(user id, state, next drop id, message id) of every purchase_followups row."""
    return query(
        path,
        "SELECT user_id, state, next_drop_id, message_id FROM purchase_followups ORDER BY claim_id",
    )


def states_are(path: Path, *states: str) -> Callable[[], bool]:
    return lambda: [row[1] for row in followup_rows(path)] == list(states)


async def next_drop(bot: Dropbell, community: Community, days: float = 3, **extra: object) -> int:
    """A later drop of the server, scheduled (no shop product: it only takes joins)."""
    drop = await bot.services.drops.create(
        community.guild.id,
        community.manager.id,
        DropSpec(
            NEXT_NAME,
            utcnow() + timedelta(days=days),
            "UTC",
            10,
            channel_id=community.drops.id,
            **extra,  # type: ignore[arg-type]
        ),
    )
    return drop.id


async def opt_in(bot: Dropbell, community: Community, drop_id: int, fan: Member) -> None:
    offsets = bot.services.schedule.config.offsets.reminders
    toggled = await bot.services.drops.toggle_reminder(community.guild.id, drop_id, fan.id, offsets)
    assert toggled.enabled


async def buy(sb: Sandbox, shop: SandboxShop, post: Message, fan: Member, drop_id: int) -> Delivery:
    """Get my link, then pay at the shop: a signed checkout.session.completed to the bot."""
    answer = await sb.click(fan, post, f"dropbell:claim:{drop_id}")
    url = link_url(answer.components)
    assert url is not None, answer.content
    delivery = await shop.stripe.complete(session_of(shop, url))
    assert delivery.statuses == [200]
    return delivery


async def test_an_opted_in_buyer_is_thanked_once_with_the_next_drops_join_button(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        later = await next_drop(bot, community)
        drop_id = await drop_opening_in(bot, community, 2, stock=3)
        opted, other, early = community.fans[:3]
        await opt_in(bot, community, drop_id, opted)
        # Someone already waits for the next drop, so the DM's button places the buyer second.
        joined = await sandbox.slash(early, "waitlist join", {"drop": str(later)})
        assert joined.content.startswith("You're #1"), joined.content
        post = await opening_post(sandbox, community, drop_id)

        await buy(sandbox, shop, post, other, drop_id)  # not opted in: no DM owed
        paid = await buy(sandbox, shop, post, opted, drop_id)
        await wait_for(states_are(database_path, "sent"), timeout=10, what="the DM sent")
        await shop.stripe.send(paid)  # the shop delivers the same event again
        assert paid.statuses == [200, 200]

        [dm] = thank_you_dms(sandbox, opted.id)
        assert "**Night Moth Tee**" in dm.content and f"**{community.guild.name}**" in dm.content
        button = dm.components_by_id()[f"dropbell:join:{later}"]
        assert button["label"] == f"Join the waitlist for {NEXT_NAME}"
        assert followup_rows(database_path) == [(opted.id, "sent", later, dm.id)]
        assert thank_you_dms(sandbox, other.id) == []

        # A restart, and the delivery once more: still the one DM.
        await runner.stop()
        runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
        await shop.stripe.send(paid)
        assert paid.statuses[-1] == 200
        await bot.services.followups.wait_started()

        pressed = await sandbox.click(opted.user, dm, f"dropbell:join:{later}")
        assert pressed.content.startswith(f"You're #2 of 2 for **{NEXT_NAME}**"), pressed.content
        entries = await bot.services.drops.fan_entries(community.guild.id, opted.id)
        assert [(entry.drop.id, entry.place) for entry in entries] == [(later, 2)]
        assert [m.id for m in thank_you_dms(sandbox, opted.id)] == [dm.id]
        assert followup_rows(database_path) == [(opted.id, "sent", later, dm.id)]
    finally:
        await runner.stop()


async def test_without_a_next_drop_the_dm_says_it_will_be_announced(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=1)
        fan = community.fans[0]
        await opt_in(bot, community, drop_id, fan)
        post = await opening_post(sandbox, community, drop_id)
        await buy(sandbox, shop, post, fan, drop_id)
        await wait_for(states_are(database_path, "sent"), timeout=10, what="the DM sent")
        [dm] = thank_you_dms(sandbox, fan.id)
        assert f"The next drop will be announced in **{community.guild.name}**." in dm.content
        assert dm.components == []
        assert followup_rows(database_path) == [(fan.id, "sent", None, dm.id)]
    finally:
        await runner.stop()


async def test_closed_dms_are_recorded_unreachable_and_not_retried(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=1)
        fan = community.fans[0]
        await opt_in(bot, community, drop_id, fan)
        post = await opening_post(sandbox, community, drop_id)
        # The opening reminder reached the fan; then they closed their DMs and bought.
        await wait_for(lambda: sandbox.dms(fan.id), timeout=10, what="the opening reminder")
        sandbox.close_dms(fan.id)
        await buy(sandbox, shop, post, fan, drop_id)
        await wait_for(states_are(database_path, "unreachable"), timeout=10, what="unreachable")
        assert sandbox.invalid_request_breakdown() == {"403/50007": 1}
        unreachable = query(database_path, "SELECT user_id, code FROM dm_unreachable")
        assert unreachable == [(fan.id, 50007)]

        await runner.stop()
        runner = InProcessBot(runner.settings)
        bot = await runner.start()
        await bot.services.followups.wait_started()
        assert followup_rows(database_path)[0][1] == "unreachable"
        assert thank_you_dms(sandbox, fan.id) == []
        assert sandbox.invalid_request_breakdown() == {"403/50007": 1}
    finally:
        await runner.stop()


async def test_a_dm_left_sending_by_a_crash_is_settled_never_sent_twice(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        later = await next_drop(bot, community)
        drop_id = await drop_opening_in(bot, community, 2, stock=2)
        delivered, lost = community.fans[:2]
        for fan in (delivered, lost):
            await opt_in(bot, community, drop_id, fan)
        post = await opening_post(sandbox, community, drop_id)
        for fan in (delivered, lost):
            await buy(sandbox, shop, post, fan, drop_id)
        await wait_for(states_are(database_path, "sent", "sent"), timeout=10, what="both DMs")
        [kept] = thank_you_dms(sandbox, delivered.id)
        [gone] = thank_you_dms(sandbox, lost.id)
        await runner.stop()

        # Both rows as a crash leaves them between claiming and marking sent: Discord took the
        # first DM; the second never left (its message is not in the fan's DMs).
        sandbox.world.delete_message(gone)
        query(database_path, "UPDATE purchase_followups SET state = 'sending', message_id = NULL")
        runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
        await bot.services.followups.wait_started()
        await wait_for(states_are(database_path, "sent", "sent"), timeout=10, what="settled")

        assert [m.id for m in thank_you_dms(sandbox, delivered.id)] == [kept.id]
        [again] = thank_you_dms(sandbox, lost.id)
        assert again.id != gone.id
        assert followup_rows(database_path) == [
            (delivered.id, "sent", later, kept.id),
            (lost.id, "sent", later, again.id),
        ]
    finally:
        await runner.stop()


async def test_the_dm_join_judges_the_fan_as_a_member_of_the_drops_server(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    guild_id = community.guild.id
    role = sandbox.create_role(guild_id, "Moth Collector")
    collector = sandbox.create_member(
        guild_id, "collector", roles=[role.id], joined_at=utcnow() - timedelta(days=100)
    )
    leaver = community.fans[0]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        # Only members with the role, in the server for 30 days: a plain User has neither.
        later = await next_drop(bot, community, required_role_id=role.id, min_member_days=30)
        drop_id = await drop_opening_in(bot, community, 2, stock=2)
        for fan in (collector, leaver):
            await opt_in(bot, community, drop_id, fan)
        post = await opening_post(sandbox, community, drop_id)
        for fan in (collector, leaver):
            await buy(sandbox, shop, post, fan, drop_id)
        await wait_for(states_are(database_path, "sent", "sent"), timeout=10, what="both DMs")
        [to_collector] = thank_you_dms(sandbox, collector.id)
        [to_leaver] = thank_you_dms(sandbox, leaver.id)

        pressed = await sandbox.click(collector.user, to_collector, f"dropbell:join:{later}")
        assert pressed.content.startswith(f"You're #1 of 1 for **{NEXT_NAME}**"), pressed.content
        assert pressed.ephemeral

        sandbox.remove_member(guild_id, leaver.id)
        refused = await sandbox.click(leaver.user, to_leaver, f"dropbell:join:{later}")
        assert refused.content == (
            f"You're no longer a member of **{community.guild.name}**, so you can't join "
            f"**{NEXT_NAME}**; join the server again first."
        )
        entries = await bot.services.drops.fan_entries(guild_id, leaver.id)
        assert entries == []
        _, waitlist = await bot.services.drops.export(guild_id, later)
        assert [(row.place, row.user_id) for row in waitlist] == [(1, collector.id)]
    finally:
        await runner.stop()
