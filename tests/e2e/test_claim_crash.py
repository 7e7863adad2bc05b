"""``kill -9`` during a claim storm: dropbell as a child process, the sandbox shop over HTTP.

Fans press Get my link concurrently on a drop of 40 units with a short hold; the bot is killed
with SIGKILL right after a seeded number of fans got their link, while other presses are in
flight. Then: every link a fan was answered with is their claim on disk, with that link, at the
moment of the kill; after the restart the fans left without an answer press again and get their
claim (or a new one), never a second; no link goes to two fans; remaining + held + paid = stock
all along; and every hold ends on time after the restart (its unit back in stock), except the
paid ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox import InteractionResult, Member, Message, Sandbox
from sandbox.shop.server import SandboxShop
from tests.databases import as_utc, query
from tests.e2e.drop_day_support import link_url, session_of
from tests.harness import BotProcess, Community, build_community, wait_for

SEED = 20261127
PRICE = "price_crash_tee"
STOCK = 40
FANS = 110
IN_FLIGHT = 16
HOLD_SECONDS = 20.0
# How late after its due moment (or after the restart, if it fell due while the bot was dead)
# a hold may end: the keeper wakes at the next hold_until; this is a loaded 2-core machine.
EXPIRY_SLACK = timedelta(seconds=3)
LOGGED_IN = "dropbell: logged in as"


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Crash Tee", 3500, stock=STOCK * 3)
        yield running


@pytest.fixture
def crowd(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=FANS)


@dataclass(frozen=True)
class Row:
    user_id: int
    link_id: int
    url: str
    state: str
    hold_until: datetime


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def claims_on_disk(path: Path, drop_id: int) -> dict[int, Row]:
    rows = query(
        path,
        "SELECT c.user_id, c.link_id, l.url, c.state, c.hold_until FROM claims c "
        "JOIN claim_links l ON l.id = c.link_id WHERE c.drop_id = :drop_id",
        drop_id=drop_id,
    )
    found = {}
    for user_id, link_id, url, state, hold_until in rows:
        until = as_utc(hold_until)
        found[user_id] = Row(user_id, link_id, url, state, until)
    return found


def stock_on_disk(path: Path, drop_id: int) -> tuple[int, int, Counter[str]]:
    """(stock, remaining, claims by state)."""
    # One statement, so the counts are of one moment (holds expire while the test reads).
    rows = query(
        path,
        "SELECT 'stock', stock FROM drops WHERE id = :drop_id "
        "UNION ALL SELECT 'remaining', remaining FROM drops WHERE id = :drop_id "
        "UNION ALL SELECT 'claim ' || state, count(*) FROM claims WHERE drop_id = :drop_id "
        "GROUP BY state",
        drop_id=drop_id,
    )
    found = {name: int(count) for name, count in rows}
    stock, remaining = found.pop("stock"), found.pop("remaining")
    states = Counter({name.removeprefix("claim "): count for name, count in found.items()})
    return stock, remaining, states


def assert_stock_adds_up(path: Path, drop_id: int) -> tuple[int, Counter[str]]:
    stock, remaining, states = stock_on_disk(path, drop_id)
    assert stock == STOCK
    assert remaining >= 0
    assert remaining + states["held"] + states["paid"] == stock, (remaining, states)
    return remaining, states


def ready_links(path: Path, drop_id: int) -> int:
    ((count,),) = query(
        path,
        "SELECT count(*) FROM claim_links WHERE drop_id = :drop_id AND state = 'ready'",
        drop_id=drop_id,
    )
    return int(count)


async def restarted(sandbox: Sandbox, process: BotProcess) -> datetime:
    """Start the bot and wait until it serves (its log says it logged in); when it connected."""
    identifies = sandbox.stats["identifies"]
    logins = process.output().count(LOGGED_IN) if process.log.exists() else 0
    process.start()
    await wait_for(lambda: sandbox.stats["identifies"] > identifies, 30, "the bot to connect")
    connected = datetime.now(UTC)
    await wait_for(lambda: process.output().count(LOGGED_IN) > logins, 30, "the bot to log in")
    return connected


async def selling_drop(sandbox: Sandbox, crowd: Community) -> int:
    starts = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M")
    created = await sandbox.slash(
        crowd.manager,
        "drop create",
        {
            "name": "Crash Tee",
            "starts_at": starts,
            "timezone": "UTC",
            "stock": STOCK,
            "channel": crowd.drops,
            "product": f"sandbox:{PRICE}",
        },
        timeout=15,
    )
    followup = await created.wait_followup(timeout=15)
    assert "is announced" in followup.content, followup.content
    post = sandbox.messages(crowd.drops.id)[-1]
    join = next(c for c in post.custom_ids() if c.startswith("dropbell:join:"))
    return int(join.rsplit(":", 1)[1])


async def opened(sandbox: Sandbox, crowd: Community, drop_id: int) -> Message:
    answer = await sandbox.slash(crowd.manager, "drop open", {"drop": str(drop_id)}, timeout=15)
    followup = await answer.wait_followup(timeout=15)
    assert "opens now" in followup.content, followup.content
    custom_id = f"dropbell:claim:{drop_id}"

    def post() -> Message | None:
        for message in reversed(sandbox.messages(crowd.drops.id)):
            button = message.components_by_id().get(custom_id)
            if button is not None and not button.get("disabled"):
                return message
        return None

    await wait_for(lambda: post() is not None, 15, "the opening post with Get my link")
    found = post()
    assert found is not None
    return found


async def test_kill_9_mid_claim_storm_keeps_every_answered_claim_and_holds_expire_on_time(
    sandbox: Sandbox,
    crowd: Community,
    shop: SandboxShop,
    database_path: Path,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    fans: list[Member] = list(crowd.fans)
    rng.shuffle(fans)
    # Link answers before the kill; at most IN_FLIGHT more claims can be on disk unanswered,
    # so units are still left when the bot dies.
    kill_after = rng.randint(8, STOCK - IN_FLIGHT - 1)
    port = free_port()
    process = BotProcess(sandbox, database_path, crowd.guild.id, tmp_path / "bot.log")
    process.env.update(
        {
            "DROPBELL_SHOPS__SANDBOX__KIND": "sandbox",
            "DROPBELL_SHOPS__SANDBOX__API_BASE": shop.base_url,
            "DROPBELL_SHOPS__SANDBOX__WEBHOOK_SECRET": shop.stripe.webhook_secret,
            "DROPBELL_DROPS__HOLD_MINUTES": str(HOLD_SECONDS / 60),
            "DROPBELL_WEB__PORT": str(port),
        }
    )
    shop.stripe.webhook_urls[:] = [f"http://127.0.0.1:{port}/webhooks/sandbox"]
    await restarted(sandbox, process)
    try:
        drop_id = await selling_drop(sandbox, crowd)
        await wait_for(lambda: ready_links(database_path, drop_id) >= STOCK, 60, "the pool")
        post = await opened(sandbox, crowd, drop_id)
        custom_id = f"dropbell:claim:{drop_id}"

        # The storm, until the kill: IN_FLIGHT presses at a time, fans in seeded order.
        answered: dict[int, InteractionResult] = {}
        killed = False
        queue = iter(fans)

        async def presser() -> None:
            nonlocal killed
            for fan in queue:
                if killed:
                    return
                try:
                    result = await sandbox.click(fan, post, custom_id, timeout=4)
                except Exception:  # no answer: the bot died with this press in flight
                    continue
                # An answer seen after the kill was sent before it: it counts as answered.
                answered[fan.user.id] = result
                links = sum(1 for r in answered.values() if link_url(r.components))
                if links >= kill_after and not killed:
                    process.kill()  # SIGKILL, with other presses in flight
                    killed = True

        await asyncio.gather(*(presser() for _ in range(IN_FLIGHT)))
        assert killed, "the storm ended before the kill"

        # At the kill: every link a fan was answered with is their claim on disk.
        disk = claims_on_disk(database_path, drop_id)
        linked: dict[int, str] = {}
        for user, result in answered.items():
            url = link_url(result.components)
            if url is not None:
                linked[user] = url
        assert len(linked) >= kill_after
        for user, url in linked.items():
            assert user in disk and disk[user].url == url, (user, url, disk.get(user))
        assert len(disk) < STOCK, "the kill should land mid-storm, with units left"
        assert_stock_adds_up(database_path, drop_id)

        # The restart: every fan without an answer presses (again).
        back = await restarted(sandbox, process)
        waiting = [fan for fan in fans if fan.user.id not in answered]
        assert waiting, "some presses should have been in flight or still to come"
        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def press(fan: Member) -> tuple[int, str | None, str]:
            async with semaphore:
                result = await sandbox.click(fan, post, custom_id, timeout=15)
            return fan.user.id, link_url(result.components), result.content

        after = await asyncio.gather(*(press(fan) for fan in waiting))
        for user, got, content in after:
            if got is not None:
                linked[user] = got
            else:
                assert "sold out" in content, content
        disk = claims_on_disk(database_path, drop_id)
        # No hold has ended yet (they last HOLD_SECONDS), so every unit went to exactly one
        # fan: none lost in the crash, none given twice.
        assert all(row.state == "held" for row in disk.values()), "a hold ended too soon"
        assert len(disk) == STOCK
        assert set(linked) == set(disk)
        for user, url in linked.items():
            assert disk[user].url == url
        assert len({row.link_id for row in disk.values()}) == STOCK, "a link went to two fans"
        assert len(set(linked.values())) == STOCK
        remaining, _ = assert_stock_adds_up(database_path, drop_id)
        assert remaining == 0

        # Two fans who claimed after the restart pay (their holds have the longest to run): a
        # signed webhook to the restarted bot; their units stay sold.
        payers = rng.sample(sorted(user for user, url, _ in after if url is not None), 2)
        for user in payers:
            delivery = await shop.stripe.complete(session_of(shop, linked[user]))
            assert delivery.statuses == [200]
        await wait_for(
            lambda: stock_on_disk(database_path, drop_id)[2]["paid"] == 2, 10, "two paid"
        )

        # Every other hold ends on time: never early, and at most EXPIRY_SLACK after it fell
        # due (or after the restart, for a hold that fell due while the bot was dead).
        due = {user: max(row.hold_until, back) for user, row in disk.items()}
        # A read brackets the moment a hold was seen ended: it ended before the read finished
        # (so that time must not be before hold_until) and after the previous read began.
        ended: dict[int, tuple[datetime, datetime]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_SECONDS + 20
        previous_read = datetime.now(UTC)
        while len(ended) < STOCK - 2 and loop.time() < deadline:
            read_began = datetime.now(UTC)
            rows = claims_on_disk(database_path, drop_id)
            read_ended = datetime.now(UTC)
            for user, row in rows.items():
                if row.state == "expired" and user not in ended:
                    ended[user] = (previous_read, read_ended)
            previous_read = read_began
            assert_stock_adds_up(database_path, drop_id)
            await asyncio.sleep(0.05)
        assert set(ended) == set(disk) - set(payers)
        for user, (not_before, not_after) in ended.items():
            assert not_after >= disk[user].hold_until, "a hold ended early"
            assert not_before <= due[user] + EXPIRY_SLACK, (user, not_before - due[user])
        remaining, states = assert_stock_adds_up(database_path, drop_id)
        assert (remaining, states["paid"], states["held"]) == (STOCK - 2, 2, 0)
        # The ended holds' links are ended at the shop, off the fans' path.
        await wait_for(
            lambda: shop.catalog.count("POST", "/v1/checkout/sessions/cs_", 200) >= STOCK - 2,
            15,
            "the expired holds' sessions ended at the shop",
        )
    finally:
        if process.process is not None and process.process.poll() is None:
            assert await process.terminate() == 0, process.output()
