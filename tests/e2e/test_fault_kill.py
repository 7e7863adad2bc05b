"""The fault suite, part 1: ``kill -9`` of the bot at a seeded moment of a scripted drop day.

Per seed: a waitlist drop selling the sandbox tee opens a few seconds after the bot starts
(a countdown post before it, compressed to seconds); fans join, the opening post goes out,
fans press Get my link, two of them pay at the shop. At a moment chosen by the seed (a phase,
and a delay into it) the bot process gets SIGKILL; a new process starts on the same file and
the fans who got no answer press again, as fans do; payments the shop could not deliver while
the bot was down are delivered again, as Stripe retries. After it settled: every acknowledged
join is on the line once, no link went to two claims, each fan has at most one claim and was
shown only its link, every planned post is in the channel once, stock adds up, and the shop's
completed sessions are exactly the paid claims.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bot.config import SchedulerSettings
from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from tests.e2e.drop_day_support import claim_button_post, link_url, session_of
from tests.e2e.fault_support import (
    PRICE,
    BotLife,
    ForkServer,
    acknowledged_since,
    bot_env,
    check_drop_day,
    interaction_tokens,
    rows,
    write_drop,
)
from tests.e2e.test_claim_crash import free_port
from tests.harness import Community, build_community, wait_for

SEEDS = range(10)
FANS = 6
STOCK = 4
PAYERS = 2
OPENS_IN = 2.0  # seconds from writing the drop (then the bot starts) to its opening
COUNTDOWN_BEFORE = 1.0  # the one countdown post, this long before opening
HOLD_SECONDS = 30.0  # longer than a seed runs: the holds are part of the stock checked
PHASES = ("join", "open", "claim", "pay")
# How far into its phase the kill may land (seconds); "open" spans the countdown and opening.
KILL_WITHIN = {"join": 0.4, "open": COUNTDOWN_BEFORE + 0.6, "claim": 0.4, "pay": 0.3}
ANSWER_WAIT = 3.5  # a press with no answer by then was not acknowledged (Discord: 3 s)
SEED_TIMEOUT = 60  # a hang fails with the line it hung on


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Fault Tee", 3500, stock=STOCK * 3)
        yield running


@pytest.fixture(scope="module")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    server = ForkServer(tmp_path_factory.mktemp("bots"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def crowd(sandbox: Sandbox) -> Community:
    return build_community(sandbox, fans=FANS)


class Lives:
    """The bot's successive processes on one database, forked ready-imported."""

    def __init__(self, server: ForkServer, env: dict[str, str]) -> None:
        self.server, self.env = server, env
        self.current: BotLife | None = None
        self.killed = asyncio.Event()
        self.restarts = 0

    async def start(self) -> None:
        self.current = await self.server.fork(self.env)

    async def kill(self) -> None:
        assert self.current is not None
        await self.current.kill()
        self.killed.set()

    async def restart(self) -> None:
        self.killed.clear()
        self.restarts += 1
        await self.start()

    async def close(self) -> None:
        if self.current is not None:
            await self.current.kill()


async def until_done_or_killed(lives: Lives, actions: list[Awaitable[object]]) -> None:
    """Run the fans' actions; if the bot dies meanwhile, give answers already on their way a
    moment, then stop waiting for the others (they were never acknowledged)."""
    tasks = [asyncio.ensure_future(action) for action in actions]
    if not tasks:
        return
    killed = asyncio.ensure_future(lives.killed.wait())
    await asyncio.wait({*tasks, killed}, return_when=asyncio.FIRST_COMPLETED)
    while not all(task.done() for task in tasks) and not killed.done():
        await asyncio.wait({*tasks, killed}, return_when=asyncio.FIRST_COMPLETED)
    if killed.done() and not all(task.done() for task in tasks):
        await asyncio.sleep(0.3)
        for task in tasks:
            task.cancel()
    killed.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("seed", SEEDS)
async def test_kill_9_at_a_seeded_moment_of_a_drop_day(
    seed: int,
    sandbox: Sandbox,
    crowd: Community,
    shop: SandboxShop,
    database_path: Path,
    fork_server: ForkServer,
) -> None:
    rng = random.Random(seed)
    kill_phase = rng.choice(PHASES)
    kill_delay = rng.uniform(0, KILL_WITHIN[kill_phase])
    fans = list(crowd.fans)
    rng.shuffle(fans)
    port = free_port()
    shop.stripe.webhook_urls[:] = [f"http://127.0.0.1:{port}/webhooks/sandbox"]
    env = bot_env(
        sandbox,
        shop,
        database_path,
        crowd.guild.id,
        port,
        DROPBELL_DROPS__HOLD_MINUTES=str(HOLD_SECONDS / 60),
        DROPBELL_SCHEDULER__COUNTDOWN_OFFSETS_MINUTES=f"[{COUNTDOWN_BEFORE / 60}]",
        DROPBELL_SCHEDULER__REMINDER_OFFSETS_MINUTES="[0]",
    )
    lives = Lives(fork_server, env)
    joins_acked: set[int] = set()
    links_shown: dict[int, set[str]] = {}
    claims_acked: set[int] = set()
    custom_id = ""

    async def join_phase() -> None:
        before = interaction_tokens(sandbox)
        waiting = [fan for fan in fans if fan.user.id not in joins_acked]
        await until_done_or_killed(
            lives,
            [
                sandbox.slash(fan, "waitlist join", {"drop": str(drop_id)}, timeout=ANSWER_WAIT)
                for fan in waiting
            ],
        )
        for rec in acknowledged_since(sandbox, before):
            text = rec.original.content if rec.original else ""
            assert "on our side" not in text, text  # a fault must never reach a fan as a bug
            # "You're #3 of 6 …" or "You're already on the list …"; else a refusal such as
            # the busy sentence (the bot's writes wait at most what keeps the 3 s window).
            if text.startswith("You're"):
                joins_acked.add(rec.user_id)

    async def open_phase() -> None:
        await until_done_or_killed(
            lives,
            [
                wait_for(
                    lambda: claim_button_post(sandbox, crowd, drop_id) is not None,
                    15,
                    "the opening post",
                )
            ],
        )

    async def claim_phase() -> None:
        post = claim_button_post(sandbox, crowd, drop_id)
        assert post is not None
        before = interaction_tokens(sandbox)
        waiting = [fan for fan in fans if fan.user.id not in claims_acked]
        await until_done_or_killed(
            lives,
            [sandbox.click(fan, post, custom_id, timeout=ANSWER_WAIT) for fan in waiting],
        )
        for rec in acknowledged_since(sandbox, before):
            text = rec.original.content if rec.original else ""
            assert "on our side" not in text, text
            url = link_url(rec.original.components) if rec.original else None
            if url is not None:
                links_shown.setdefault(rec.user_id, set()).add(url)
            if url is not None or "sold out" in text:
                claims_acked.add(rec.user_id)

    async def pay_phase() -> None:
        payers = sorted(links_shown)[:PAYERS]
        sessions = [session_of(shop, next(iter(links_shown[user]))) for user in payers]
        await until_done_or_killed(
            lives,
            [
                shop.stripe.complete(sid)
                for sid in sessions
                if shop.stripe.sessions[sid]["status"] != "complete"
            ],
        )

    run: dict[str, Callable[[], Awaitable[None]]] = {
        "join": join_phase,
        "open": open_phase,
        "claim": claim_phase,
        "pay": pay_phase,
    }

    async def killer() -> None:
        await asyncio.sleep(kill_delay)
        await lives.kill()

    kill_task: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(SEED_TIMEOUT):
            drop_id = await write_drop(
                database_path,
                crowd,
                _scheduler(),
                opens_in=OPENS_IN,
                stock=STOCK,
            )
            custom_id = f"dropbell:claim:{drop_id}"
            await lives.start()
            for phase in PHASES:
                if phase == kill_phase:
                    kill_task = asyncio.create_task(killer())
                await run[phase]()
                if lives.killed.is_set():
                    await lives.restart()
                    await run[phase]()  # the fans left without an answer press again
            if kill_task is not None and not kill_task.done():
                await kill_task  # the kill lands after the last phase: while it settles
                await lives.restart()
            assert lives.restarts == 1

            # Shops retry a webhook that failed: deliver again what the dead bot never took.
            for delivery in list(shop.stripe.deliveries):
                if delivery.results and delivery.results[-1][1] != 200:
                    replay = await shop.stripe.send(delivery)
                    assert replay.results[-1][1] == 200, replay.results
            completed = sum(1 for s in shop.stripe.sessions.values() if s["status"] == "complete")
            await wait_for(
                lambda: _paid(database_path, drop_id) == completed, 10, "every payment applied"
            )
            check_drop_day(
                database_path,
                sandbox,
                shop,
                crowd,
                drop_id,
                stock=STOCK,
                joins_acked=joins_acked,
                links_shown=links_shown,
            )
            # The script did happen: fans joined and got links; the shop saw payments.
            assert joins_acked and links_shown and completed >= 1, (joins_acked, links_shown)
    finally:
        if kill_task is not None:
            kill_task.cancel()
        await lives.close()


def _scheduler() -> SchedulerSettings:
    return SchedulerSettings(
        countdown_offsets_minutes=[COUNTDOWN_BEFORE / 60], reminder_offsets_minutes=[0]
    )


def _paid(database_path: Path, drop_id: int) -> int:
    return len(
        rows(
            database_path,
            "SELECT id FROM claims WHERE drop_id = ? AND state IN ('paid', 'refunded')",
            drop_id,
        )
    )
