"""A drop made from a poll can sell: the modal asks for the product (suggested from the winning
option when a shop has a product of that name), checked exactly as /drop create checks it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import Message, Sandbox
from sandbox.results import InteractionResult
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import start_drop_day_bot
from tests.e2e.poll_support import berlin_in, commit, create_poll, poll_id_of
from tests.e2e.test_poll_to_drop import inputs_by_label
from tests.harness import Community, drop_id_of

HOODIE = "price_moth_hoodie"
PRODUCT_LABEL = "Product (shop:id; empty: waitlist only)"
OPENS_LABEL = "Opens at (YYYY-MM-DD HH:MM, 24 h)"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(HOODIE, "Moth Hoodie", 6050, stock=30)
        running.catalog.add_product("price_moth_tee", "Moth Tee", 3500, stock=30)
        yield running


async def closed_poll_offer(sandbox: Sandbox, community: Community) -> tuple[int, Message]:
    """A poll the hoodie wins, closed by /poll close; its results post with the offer."""
    sandbox.relax("channel_send_limit", reason="poll, results and drop in one channel")
    post = await create_poll(sandbox, community)
    await commit(sandbox, community.fans[0], post, 1, 3)
    await commit(sandbox, community.fans[1], post, 0, 1)
    poll_id = poll_id_of(post)
    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    return poll_id, await closing.wait_followup()


def prefilled(shown: InteractionResult) -> dict[str, str | None]:
    assert shown.modal is not None
    return {
        comp["label"]: comp.get("value")
        for row in shown.modal["components"]
        for comp in row["components"]
    }


async def test_the_modal_suggests_the_winning_product_and_the_drop_sells_it(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        poll_id, offer = await closed_poll_offer(sandbox, community)
        shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
        # The winning option is "Moth Hoodie", and the shop has exactly one product so called.
        assert prefilled(shown)[PRODUCT_LABEL] == f"sandbox:{HOODIE}"
        fields = inputs_by_label(shown.modal or {})
        submitted = await sandbox.submit_modal(
            community.manager, shown, {fields[OPENS_LABEL]: berlin_in(timedelta(days=5))}
        )
        done = await submitted.wait_followup()
        assert f"It sells `sandbox:{HOODIE}`." in done.content, done.content
        drop = await bot.services.drops.get_any(
            drop_id_of(sandbox.messages(community.drops.id)[-1])
        )
        assert drop is not None and drop.product == f"sandbox:{HOODIE}"
        assert drop.waitlist_size == 2
    finally:
        await runner.stop()


async def test_a_wrong_product_is_one_sentence_and_makes_nothing(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        poll_id, offer = await closed_poll_offer(sandbox, community)
        shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
        fields = inputs_by_label(shown.modal or {})
        submitted = await sandbox.submit_modal(
            community.manager,
            shown,
            {
                fields[OPENS_LABEL]: berlin_in(timedelta(days=5)),
                fields[PRODUCT_LABEL]: "sandbox:price_nothing",
            },
        )
        final = await submitted.wait_final()
        text = final.content or final.followups[0].content
        assert (
            text == "The shop **sandbox** has no product 'price_nothing'; pick one from the list."
        )
        assert await bot.services.drops.drops(community.guild.id) == []
        poll = await bot.services.polls.get_any(poll_id)
        assert poll is not None and poll.drop_id is None

        # Left empty, the drop is waitlist only, as /drop create without `product`.
        shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
        submitted = await sandbox.submit_modal(
            community.manager,
            shown,
            {fields[OPENS_LABEL]: berlin_in(timedelta(days=5)), fields[PRODUCT_LABEL]: ""},
        )
        done = await submitted.wait_followup()
        assert "It is waitlist only." in done.content, done.content
    finally:
        await runner.stop()


async def test_without_a_shop_the_product_is_refused_in_one_sentence(
    sandbox: Sandbox, community: Community, bot
) -> None:
    poll_id, offer = await closed_poll_offer(sandbox, community)
    shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert prefilled(shown)[PRODUCT_LABEL] in (None, "")  # no shop: nothing to suggest
    fields = inputs_by_label(shown.modal or {})
    submitted = await sandbox.submit_modal(
        community.manager,
        shown,
        {fields[OPENS_LABEL]: berlin_in(timedelta(days=5)), fields[PRODUCT_LABEL]: "sandbox:x"},
    )
    final = await submitted.wait_final()
    text = final.content or final.followups[0].content
    assert text.startswith("No shop is connected, so a drop can't sell a product yet")
    assert await bot.services.drops.drops(community.guild.id) == []
