"""What a process that does not lead does, with two bot processes (shard 0 and shard 1 of 2) on
one PostgreSQL database: the server under test is on the follower's shard, so Discord (the
sandbox) hands the follower every command and press of it, while the leader runs the schedule.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from services.leadership import POLL_SECONDS
from services.localtime import utcnow
from tests.databases import on_postgresql, query, stored_time
from tests.e2e.poll_support import commit, create_poll, disabled, poll_id_of, results_posts
from tests.e2e.test_drop_day_orders import set_announce_channel
from tests.e2e.test_schedule import markers
from tests.e2e.test_shards import SHARDS, community_per_shard, servers_of
from tests.harness import BotProcess, Community, create_drop, wait_for

pytestmark = pytest.mark.skipif(
    not on_postgresql(),
    reason="several bot processes share a database only on PostgreSQL (a SQLite file has one)",
)

LEADS = "this process now leads"
PRICE = "price_moth_tee"
SHOP_DOWN = "The shop **sandbox** is not answering"
# The circuit's default (shops.connect): this many failed calls in a row open it.
CIRCUIT_FAILURES = 5


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=50)
        yield running


@contextlib.asynccontextmanager
async def leader_and_follower(
    sandbox: Sandbox, shop: SandboxShop, database_path: Path, tmp_path: Path
) -> AsyncIterator[tuple[BotProcess, BotProcess, Community]]:
    """Both shards running; the leader, the follower, and the server on the follower's shard.
    Which process leads is up to the lock (they start together), so the server is picked
    after."""
    communities = await community_per_shard(sandbox)
    processes = []
    for shard, community in enumerate(communities):
        process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / f"{shard}.log")
        process.env |= {
            "DROPBELL_DISCORD__SHARD_COUNT": str(SHARDS),
            "DROPBELL_DISCORD__SHARD_IDS": f"[{shard}]",
            "DROPBELL_SHOPS__SANDBOX__KIND": "sandbox",
            "DROPBELL_SHOPS__SANDBOX__API_BASE": shop.base_url,
            "DROPBELL_SHOPS__SANDBOX__WEBHOOK_SECRET": shop.stripe.webhook_secret,
        }
        processes.append(process)
    identifies = sandbox.stats["identifies"]
    for process in processes:
        process.start()
    try:
        await wait_for(
            lambda: sandbox.stats["identifies"] >= identifies + SHARDS, 30, "both shards to connect"
        )
        for shard, process in enumerate(processes):
            seen = f"in {servers_of(sandbox, shard)} servers"

            def ready(process: BotProcess = process, seen: str = seen) -> bool:
                return seen in process.output()

            await wait_for(ready, 15, f"shard {shard} ready")
        leading = [shard for shard, process in enumerate(processes) if LEADS in process.output()]
        assert len(leading) == 1, "exactly one process leads"
        follower_shard = 1 - leading[0]
        yield processes[leading[0]], processes[follower_shard], communities[follower_shard]
    finally:
        for process in processes:
            if process.process and process.process.poll() is None:
                assert await process.terminate() == 0, process.output()


def notices(sandbox: Sandbox, community: Community) -> list[str]:
    return [m.content for m in sandbox.messages(community.drops.id) if SHOP_DOWN in m.content]


async def test_a_followers_shop_circuit_opening_tells_the_managers_once(
    sandbox: Sandbox, shop: SandboxShop, database_path: Path, tmp_path: Path
) -> None:
    async with leader_and_follower(sandbox, shop, database_path, tmp_path) as (
        leader,
        follower,
        community,
    ):
        await set_announce_channel(sandbox, community)
        # A drop selling from the shop, three days out: the leader's keeper fills no link pool
        # for it yet (an hour before opening), so only the follower calls the shop below.
        await create_drop(sandbox, community, timeout=10, product=f"sandbox:{PRICE}")
        shop.catalog.faults.down = True
        before = len(shop.catalog.requests)
        tries = 0
        # A manager typing into /drop create's `product`: each autocomplete lists the shop's
        # products, through the follower (this server's shard), and fails.
        while not notices(sandbox, community) and tries < 3 * CIRCUIT_FAILURES:
            tries += 1
            choices = await sandbox.autocomplete(
                community.manager,
                "drop create",
                {"name": "x", "product": "moth"},
                focused="product",
            )
            assert choices == []  # the autocomplete still answers, with nothing to offer
            with contextlib.suppress(TimeoutError):
                await wait_for(lambda: notices(sandbox, community), 0.3, "the notice")
        assert notices(sandbox, community), (
            f"no notice after {tries} autocompletes with the shop down\n{follower.output()[-2000:]}"
        )
        refused = shop.catalog.requests[before:]
        # Each refused request is a product listing: the follower's, as the leader called the
        # shop for nothing (no pool to fill) and the servers' commands all reach the follower.
        assert refused and {(m, p, s) for m, p, s in refused} == {("GET", "/v1/prices", 503)}
        assert LEADS not in follower.output()

        # The circuit is open now: more autocompletes answer at once without calling the shop
        # and tell nobody again (once per opening of this process's circuit).
        calls = len(shop.catalog.requests)
        for _ in range(3):
            await sandbox.autocomplete(
                community.manager,
                "drop create",
                {"name": "x", "product": "moth"},
                focused="product",
            )
        assert len(shop.catalog.requests) == calls
        [notice] = notices(sandbox, community)
        assert "Fans are told to try again; links that are ready still go out." in notice
        assert "failed 5 times in a row" in notice
        assert SHOP_DOWN not in leader.output()  # the leader's own circuit never opened


def close_row_state(database_path: Path, poll_id: int) -> tuple[str, object]:
    [(state, due_at)] = query(
        database_path,
        "SELECT s.state, s.due_at FROM scheduled_sends s JOIN polls p ON p.close_send_id = s.id"
        " WHERE p.id = :poll_id",
        poll_id=poll_id,
    )
    return state, due_at


async def test_poll_close_answered_by_a_follower_closes_once(
    sandbox: Sandbox, shop: SandboxShop, database_path: Path, tmp_path: Path
) -> None:
    async with leader_and_follower(sandbox, shop, database_path, tmp_path) as (
        leader,
        follower,
        community,
    ):
        post = await create_poll(sandbox, community)
        poll_id = poll_id_of(post)
        fan, late = community.fans[0], community.fans[1]
        await commit(sandbox, fan, post, 0, 4)
        early_panel = await sandbox.click(late, post, f"dropbell:poll:{poll_id}:1")
        assert early_panel.message is not None

        # The scheduled closing, due a few seconds from now: the leader sweeps the moved row
        # into its job cache, so when the follower closes the poll first, the leader holds a
        # job for the same closing (its next sweep drops it, or it fires and finds the row
        # sent); either way nothing more may be posted.
        due = utcnow() + timedelta(seconds=3 * POLL_SECONDS + 2)
        query(
            database_path,
            "UPDATE scheduled_sends SET due_at = :due"
            " WHERE id = (SELECT close_send_id FROM polls WHERE id = :poll_id)",
            due=stored_time(due),
            poll_id=poll_id,
        )
        await wait_for(lambda: True, 2 * POLL_SECONDS)  # a sweep or two of the leader

        answer = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
        final = await answer.wait_followup(timeout=10)
        assert final.ephemeral
        assert "is closed and its results are posted in" in final.content, final.content
        assert list(final.custom_ids()) == [f"dropbell:polldrop:{poll_id}"]
        assert utcnow() < due, "the follower's close should come before the scheduled one"
        [results] = results_posts(sandbox, community.drops.id)
        assert "**Moth Tee**: 4 units from 1 fan · 140.00 EUR" in results.content
        assert close_row_state(database_path, poll_id)[0] == "sent"

        def post_disabled() -> bool:
            return disabled(sandbox.world.messages_by_id[post.id])

        await wait_for(post_disabled, 10, "the poll's buttons to be disabled")
        # A number pressed on a panel opened before the closing: told, nothing stored.
        pressed = await sandbox.click(late, early_panel.message, f"dropbell:commit:{poll_id}:1:2")
        assert pressed.ephemeral
        assert pressed.content.startswith(
            "The poll **Which winter piece should we make?** closed <t:"
        ), pressed.content
        assert query(
            database_path,
            "SELECT count(*) FROM poll_commitments WHERE poll_id = :poll_id AND user_id = :user",
            poll_id=poll_id,
            user=late.id,
        ) == [(0,)]

        # Past the scheduled time (and a sweep): the leader posted nothing more.
        await wait_for(lambda: utcnow() > due + timedelta(seconds=POLL_SECONDS), 15, "due")
        assert len(results_posts(sandbox, community.drops.id)) == 1
        assert len(markers(sandbox.messages(community.drops.id))) == len(
            set(markers(sandbox.messages(community.drops.id)))
        )
        assert "Traceback" not in leader.output() + follower.output()
