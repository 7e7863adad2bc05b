"""``GET /metrics`` end to end: real interactions, a scheduled opening, a claim paid through the
sandbox shop, then the bot's own listener scraped over HTTP and parsed as Prometheus text.

The counters live in the process-wide registry (other tests in this process bump them too), so
the test compares a scrape before with a scrape after; the gauges come from this bot's database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import discord
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.e2e.poll_support import berlin_in, commit, create_poll, poll_id_of
from tests.harness import Community, InProcessBot, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=40)
        yield running


async def scrape(port: int | None) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_after_a_drop_day(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        before = await scrape(bot.web_port)
        drop_id = await drop_opening_in(bot, community, 1, stock=3)
        fan, other = community.fans[:2]

        about = await sandbox.slash(fan, "dropbell about")
        assert "dropbell" in about.content
        choices = await sandbox.autocomplete(fan, "waitlist join", {"drop": ""}, focused="drop")
        assert [choice["value"] for choice in choices] == [str(drop_id)]
        joined = await sandbox.slash(fan, "waitlist join", {"drop": str(drop_id)})
        assert joined.content.startswith("You're"), joined.content
        refused = await sandbox.slash(other, "drop export", {"drop": str(drop_id)})
        assert "Only managers can do that" in refused.content

        post = await opening_post(sandbox, community, drop_id)  # the scheduled opening fired
        claimed = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
        url = link_url(claimed.components)
        assert url is not None
        delivery = await shop.stripe.complete(session_of(shop, url))
        assert [status for _, status in delivery.results] == [200]
        await wait_for(lambda: bot.in_flight.count == 0, what="every handler finished")

        after = await scrape(bot.web_port)

        def added(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        interactions = "dropbell_interactions_total"
        assert added(interactions, kind="command", command="/dropbell about", outcome="ok") == 1
        assert added(interactions, kind="command", command="/waitlist join", outcome="ok") == 1
        assert added(interactions, kind="autocomplete", command="/waitlist join", outcome="ok") == 1
        assert added(interactions, kind="command", command="/drop export", outcome="refused") == 1
        assert added(interactions, kind="button", command="dropbell:claim", outcome="ok") == 1
        total = sum(after[key] - before.get(key, 0.0) for key in after if key[0] == interactions)
        assert total == 5
        answers = "dropbell_answer_seconds_count"
        assert added(answers, kind="command") == 3
        assert added(answers, kind="autocomplete") == 1
        assert added(answers, kind="button") == 1
        # Every answer came well within Discord's 3 seconds.
        assert added("dropbell_answer_seconds_bucket", kind="command", le="3.0") == 3

        assert added("dropbell_webhooks_total", shop="sandbox", outcome="paid") == 1
        assert added("dropbell_scheduler_lag_seconds_count", kind="opening") == 1
        assert added("dropbell_scheduled_posts_total", kind="opening") == 1

        drop = {"drop_id": str(drop_id)}
        assert value(after, "dropbell_live_drop_stock", **drop) == 3
        assert value(after, "dropbell_live_drop_remaining", **drop) == 2
        claims = {
            state: value(after, "dropbell_live_drop_claims", state=state, **drop)
            for state in ("held", "paid", "expired", "refunded")
        }
        assert claims == {"held": 0, "paid": 1, "expired": 0, "refunded": 0}
        assert value(after, "dropbell_dm_queue", queue="reminders") == 0
        assert value(after, "dropbell_dm_queue", queue="followups") == 0
        assert value(after, "dropbell_scheduler_overdue_seconds") == 0

        # A drop no longer live leaves the per-drop series at the next scrape.
        await bot.services.drops.cancel(community.guild.id, drop_id)
        closed = await scrape(bot.web_port)
        assert not [key for key in closed if ("drop_id", str(drop_id)) in key[1]]
    finally:
        await runner.stop()


async def test_modal_submissions_are_counted_and_timed(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    await commit(sandbox, community.fans[0], post, 0, 1)
    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    offer = await closing.wait_followup()
    shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert shown.modal is not None
    fields = {
        comp["label"]: comp["custom_id"]
        for row in shown.modal["components"]
        for comp in row["components"]
    }
    values = {
        fields["Opens at (YYYY-MM-DD HH:MM, 24 h)"]: berlin_in(timedelta(days=5)),
        fields["Stock (units)"]: "lots",
    }
    before = await scrape(bot.web_port)
    submitted = await sandbox.submit_modal(community.manager, shown, values)
    refusal = await submitted.wait_followup()  # the modal defers first: the drop takes time
    assert "'lots' is not a number of units" in refusal.content, refusal.content
    await wait_for(lambda: bot.in_flight.count == 0, what="every handler finished")
    after = await scrape(bot.web_port)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    modal = {"kind": "modal", "command": "dropbell:polldrop-modal"}
    assert added("dropbell_interactions_total", outcome="refused", **modal) == 1
    assert added("dropbell_interactions_total", outcome="ok", **modal) == 0
    assert added("dropbell_answer_seconds_count", kind="modal") == 1


async def test_bugs_are_counted_as_errors(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start(extra_extensions=["tests.support.boom"])
    await bot.tree.sync(guild=discord.Object(community.guild.id))
    fan = community.fans[0]
    before = await scrape(bot.web_port)
    answer = await sandbox.slash(fan, "boom")
    assert "Something went wrong on our side" in answer.content
    # An autocomplete that raises is only logged by discord.py: the fan gets no choices.
    with pytest.raises(TimeoutError):
        await sandbox.autocomplete(fan, "boomchoice", {"what": ""}, focused="what", timeout=0.3)
    await wait_for(lambda: bot.in_flight.count == 0, what="every handler finished")
    after = await scrape(bot.web_port)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    interactions = "dropbell_interactions_total"
    assert added(interactions, kind="command", command="/boom", outcome="error") == 1
    assert added(interactions, kind="autocomplete", command="/boomchoice", outcome="error") == 1
    assert added("dropbell_answer_seconds_count", kind="command") == 1  # the error sentence
    assert added("dropbell_answer_seconds_count", kind="autocomplete") == 0
