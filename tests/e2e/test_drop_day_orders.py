"""Drop day when things go sideways: a payment after its hold, a restock, a shop that is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from shops.circuit import CircuitBreaker
from shops.sandbox import SandboxShop as SandboxShopAdapter
from tests.e2e.drop_day_support import (
    HOLD_SECONDS,
    PRICE,
    drop_day_settings,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.harness import Community, InProcessBot, wait_for


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=1)
        yield running


def remaining_is(bot: Dropbell, drop_id: int, value: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        drop = await bot.services.drops.get_any(drop_id)
        return drop is not None and drop.remaining == value

    return check


async def set_announce_channel(sandbox: Sandbox, community: Community) -> None:
    answer = await sandbox.slash(
        community.manager, "dropbell setup", {"announce_channel": community.drops}
    )
    assert answer.ephemeral


async def test_a_payment_after_its_hold_never_oversells(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await set_announce_channel(sandbox, community)
        drop_id = await drop_opening_in(bot, community, 2, stock=1)
        post = await opening_post(sandbox, community, drop_id)
        slow, quick = community.fans[:2]
        first = await sandbox.click(slow, post, f"dropbell:claim:{drop_id}")
        slow_url = link_url(first.components)
        assert slow_url is not None
        # The hold ends unpaid; the unit goes to the next fan, who holds it.
        await wait_for(remaining_is(bot, drop_id, 1), timeout=HOLD_SECONDS + 10, what="expiry")
        second = await sandbox.click(quick, post, f"dropbell:claim:{drop_id}")
        assert link_url(second.components) is not None
        # The slow fan's payment went through just as the hold ended (before the link was
        # ended): Stripe delivers the completion late. Recorded, not counted, refund asked.
        session = shop.stripe.sessions[session_of(shop, slow_url)]
        paid = dict(session, status="complete", payment_status="paid", payment_intent="pi_late")
        event = shop.stripe.event("checkout.session.completed", paid)
        await shop.stripe.send(shop.stripe.delivery(event))
        await wait_for(
            lambda: any("refund" in m.content for m in sandbox.messages(community.drops.id)),
            what="the managers' notice",
        )
        slow_claim = await bot.services.drop_day.claim_of(drop_id, slow.id)
        assert slow_claim is not None and slow_claim.state == "expired"
        assert slow_claim.order_ref is not None and slow_claim.order_ref.startswith("pi_")
        counts = await bot.services.drop_day.counts(drop_id)
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and (counts.paid, counts.held, drop.remaining) == (0, 1, 0)
        again = await sandbox.click(slow, post, f"dropbell:claim:{drop_id}")
        assert "ended" in again.content and link_url(again.components) is None
    finally:
        await runner.stop()


def late_completion(shop: SandboxShop, url: str, intent: str) -> dict[str, Any]:
    """The completion Stripe delivers late for the session behind ``url``: the fan paid just as
    the hold ended, before dropbell ended the session."""
    session = shop.stripe.sessions[session_of(shop, url)]
    paid = dict(session, status="complete", payment_status="paid", payment_intent=intent)
    return shop.stripe.event("checkout.session.completed", paid)


async def test_a_late_payment_takes_a_unit_still_free_and_never_one_beyond_stock(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await set_announce_channel(sandbox, community)
        drop_id = await drop_opening_in(bot, community, 2, stock=2)
        post = await opening_post(sandbox, community, drop_id)
        early, slow, later, last = community.fans[:4]
        urls: dict[int, str | None] = {}
        for fan in (early, slow):
            answer = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
            urls[fan.id] = link_url(answer.components)
            assert urls[fan.id] is not None, answer.content
        # Both holds end unpaid and nobody claims in between: both units are free again.
        await wait_for(remaining_is(bot, drop_id, 2), timeout=HOLD_SECONDS + 10, what="expiry")

        # The first fan's payment arrives late, while a unit is still free: it takes it.
        on_time = late_completion(shop, str(urls[early.id]), "pi_on_time")
        paid = await shop.stripe.send(shop.stripe.delivery(on_time))
        assert paid.results[-1][1] == 200
        claim = await bot.services.drop_day.claim_of(drop_id, early.id)
        assert claim is not None and (claim.state, claim.order_ref) == ("paid", "pi_on_time")
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.remaining == 1
        # The same delivery again (shops retry for hours): no second unit.
        assert (await shop.stripe.send(paid)).results[-1][1] == 200
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.remaining == 1

        # Another fan holds the last unit; then the second late payment finds none free: it
        # stays expired with its order, managers are asked to refund it, nothing oversold.
        got = await sandbox.click(later, post, f"dropbell:claim:{drop_id}")
        assert link_url(got.components) is not None, got.content
        late = shop.stripe.delivery(late_completion(shop, str(urls[slow.id]), "pi_too_late"))
        assert (await shop.stripe.send(late)).results[-1][1] == 200
        await wait_for(
            lambda: any("pi_too_late" in m.content for m in sandbox.messages(community.drops.id)),
            what="the managers asked to refund",
        )
        refused = await bot.services.drop_day.claim_of(drop_id, slow.id)
        assert refused is not None and (refused.state, refused.order_ref) == (
            "expired",
            "pi_too_late",
        )
        notices = [m.content for m in sandbox.messages(community.drops.id) if "refund" in m.content]
        assert not any("pi_on_time" in text for text in notices)  # the paid one is no refund
        counts = await bot.services.drop_day.counts(drop_id)
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None
        assert (counts.paid, counts.held, drop.remaining) == (1, 1, 0)
        assert counts.paid + counts.held + drop.remaining == drop.stock == 2
        sold_out = await sandbox.click(last, post, f"dropbell:claim:{drop_id}")
        assert "sold out" in sold_out.content
    finally:
        await runner.stop()


async def test_a_restock_reopens_claims_and_tells_opted_in_fans(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=1)
        buyer, waiting = community.fans[:2]
        offsets = bot.services.schedule.config.offsets.reminders
        await bot.services.drops.toggle_reminder(community.guild.id, drop_id, waiting.id, offsets)
        post = await opening_post(sandbox, community, drop_id)
        bought = await sandbox.click(buyer, post, f"dropbell:claim:{drop_id}")
        url = link_url(bought.components)
        assert url is not None
        await shop.stripe.complete(session_of(shop, url))
        sold_out = await sandbox.click(waiting, post, f"dropbell:claim:{drop_id}")
        assert "sold out" in sold_out.content
        dms_before = len(sandbox.dms(waiting.id))

        await shop.stripe.restock(PRICE, 2)  # the shop has 2 again: a signed price.updated
        await wait_for(remaining_is(bot, drop_id, 2), what="the restock applied")
        await wait_for(
            lambda: any("has units again" in m.content for m in sandbox.dms(waiting.id)),
            timeout=10,
            what="the restock DM",
        )
        assert len(sandbox.dms(waiting.id)) == dms_before + 1
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.stock == 3
        await wait_for(lambda: len(shop.stripe.sessions) >= 3, what="links for the new units")
        got = await sandbox.click(waiting, post, f"dropbell:claim:{drop_id}")
        assert link_url(got.components) is not None, got.content
    finally:
        await runner.stop()


async def test_a_shop_that_is_down_gets_clear_answers_and_one_notice(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    bots: list[Dropbell] = []
    adapter = CircuitBreaker(
        SandboxShopAdapter(
            "sandbox", api_base=shop.base_url, webhook_secret=shop.stripe.webhook_secret
        ),
        failures=2,
        cool_off=2.0,
        on_open=lambda name, reason: bots[0].services.drop_day.shop_down(name, reason),
    )
    settings = drop_day_settings(sandbox, shop, database_path, community.guild.id)
    runner = InProcessBot(settings, shops={"sandbox": adapter})
    bots.append(await runner.start())
    bot = bots[0]
    try:
        await set_announce_channel(sandbox, community)
        shop.catalog.faults.down = True
        drop_id = await drop_opening_in(bot, community, 1, stock=2)
        post = await opening_post(sandbox, community, drop_id)
        for fan in community.fans[:3]:
            answer = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
            assert "has not given me a purchase link" in answer.content
            assert link_url(answer.components) is None
        await wait_for(
            lambda: any("not answering" in m.content for m in sandbox.messages(community.drops.id)),
            timeout=15,
            what="the managers told the shop is down",
        )
        drop = await bot.services.drops.get_any(drop_id)
        assert drop is not None and drop.remaining == 2  # nothing taken while the shop was down

        shop.catalog.faults.down = False  # back: the next top-up fills the pool
        await wait_for(lambda: len(shop.stripe.sessions) >= 2, timeout=15, what="the pool")
        answer = await sandbox.click(community.fans[0], post, f"dropbell:claim:{drop_id}")
        assert link_url(answer.components) is not None, answer.content
        notices = [m for m in sandbox.messages(community.drops.id) if "not answering" in m.content]
        assert len(notices) == 1
    finally:
        await runner.stop()


async def test_drop_edit_stock_on_a_live_drop_reopens_claims(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=1)
        first, waiting = community.fans[:2]
        offsets = bot.services.schedule.config.offsets.reminders
        await bot.services.drops.toggle_reminder(community.guild.id, drop_id, waiting.id, offsets)
        post = await opening_post(sandbox, community, drop_id)
        assert link_url((await sandbox.click(first, post, f"dropbell:claim:{drop_id}")).components)
        assert (
            "sold out" in (await sandbox.click(waiting, post, f"dropbell:claim:{drop_id}")).content
        )
        edited = await sandbox.slash(
            community.manager, "drop edit", {"drop": str(drop_id), "stock": 2}
        )
        await edited.wait_final()
        await wait_for(remaining_is(bot, drop_id, 1), what="the new unit")
        await wait_for(
            lambda: any("has units again" in m.content for m in sandbox.dms(waiting.id)),
            timeout=10,
            what="the restock DM",
        )
        await wait_for(lambda: len(shop.stripe.sessions) >= 4, what="a link for the new unit")
        got = await sandbox.click(waiting, post, f"dropbell:claim:{drop_id}")
        assert link_url(got.components) is not None, got.content
    finally:
        await runner.stop()
