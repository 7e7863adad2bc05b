"""What the fault suite shares: a drop written before the bot starts, the invariants checked
after a fault, and the sandbox's record of which interactions the bot acknowledged.

The invariants read the rows through tests/databases.py, on whichever database the leg runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bot import schedule_config
from bot.config import SchedulerSettings
from sandbox import Sandbox
from sandbox.results import InteractionRecord
from sandbox.shop.server import SandboxShop
from services.drops.rules import DropSpec
from services.localtime import utcnow
from services.registry import Services
from storage.engine import Database
from storage.migrate import upgrade
from storage.states import Allocation
from tests.databases import database_url, query
from tests.e2e.test_schedule import markers
from tests.harness import REPO, TOKEN, Community, wait_for

PRICE = "price_fault_tee"

# Until tests/databases.py (branch pg) decides: the lock tests are about SQLite's own file lock.
sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("DROPBELL_TEST_DATABASE", "").strip()),
    reason="about SQLite's file lock (BEGIN EXCLUSIVE from another connection); SQLite leg only",
)


async def write_drop(
    database_path: Path,
    community: Community,
    scheduler: SchedulerSettings,
    opens_in: float,
    stock: int,
    name: str = "Fault Tee",
) -> int:
    """A waitlist drop selling the sandbox tee, opening in ``opens_in`` seconds, with its posts
    planned (countdowns, the opening post), written to the file before the bot starts."""
    database = Database(database_url(database_path))
    try:
        await upgrade(database)
        services = Services.build(database, schedule_config(scheduler))
        drop = await services.drops.create(
            community.guild.id,
            community.manager.id,
            DropSpec(
                name,
                utcnow() + timedelta(seconds=opens_in),
                "UTC",
                stock,
                channel_id=community.drops.id,
                allocation=Allocation.WAITLIST_ORDER,
                product=f"sandbox:{PRICE}",
            ),
        )
        await services.events.drop_changed(drop.id)
        return drop.id
    finally:
        await database.dispose()


def rows(database_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` with ``?`` placeholders, on the test's database (SQLite or PostgreSQL)."""
    first, *rest = sql.split("?")
    named = first + "".join(f":p{i}{part}" for i, part in enumerate(rest))
    return query(database_path, named, **{f"p{i}": value for i, value in enumerate(params)})


def interaction_tokens(sb: Sandbox) -> set[str]:
    return set(sb.store.by_token)


def acknowledged_since(sb: Sandbox, before: set[str]) -> list[InteractionRecord]:
    """Interactions dispatched after ``before`` was taken that the bot acknowledged (answered
    or deferred): the sandbox's own record, whatever the test saw of them."""
    return [
        rec
        for token, rec in list(sb.store.by_token.items())
        if token not in before and rec.response_type is not None
    ]


@dataclass(frozen=True)
class Invariants:
    """What the database and the sandbox say after the bot settled."""

    waitlist: Counter[int]
    claims: dict[int, tuple[int, str, str]]  # user -> (link id, url, state)


def check_drop_day(
    database_path: Path,
    sb: Sandbox,
    shop: SandboxShop,
    community: Community,
    drop_id: int,
    *,
    stock: int,
    joins_acked: set[int],
    links_shown: dict[int, set[str]],
) -> Invariants:
    """Every invariant of a drop day after faults; returns what it read, for more checks."""
    # Every acknowledged join is on the line exactly once.
    waitlist = Counter(
        int(str(user))
        for (user,) in rows(
            database_path, "SELECT user_id FROM waitlist_entries WHERE drop_id = ?", drop_id
        )
    )
    assert all(count == 1 for count in waitlist.values()), waitlist
    assert joins_acked <= set(waitlist), joins_acked - set(waitlist)

    # Each fan at most one claim; each link handed to at most one claim; the link a fan was
    # shown is their claim's link.
    found = rows(
        database_path,
        "SELECT c.user_id, c.link_id, l.url, c.state FROM claims c "
        "JOIN claim_links l ON l.id = c.link_id WHERE c.drop_id = ?",
        drop_id,
    )
    users = Counter(int(str(user)) for user, _, _, _ in found)
    assert all(count == 1 for count in users.values()), users
    links = Counter(link for _, link, _, _ in found)
    assert all(count == 1 for count in links.values()), "a link went to two claims"
    refs = rows(
        database_path,
        "SELECT link_ref, count(*) FROM claim_links WHERE drop_id = ? AND link_ref IS NOT NULL "
        "GROUP BY link_ref "
        "HAVING count(*) > 1",
        drop_id,
    )
    assert refs == [], refs
    claims = {int(str(u)): (int(str(link)), str(url), str(state)) for u, link, url, state in found}
    for user, shown in links_shown.items():
        assert user in claims, f"fan {user} was shown a link but has no claim"
        assert shown == {claims[user][1]}, (user, shown, claims[user])

    # Stock adds up, and the shop agrees on what was paid.
    ((total, remaining),) = rows(
        database_path, "SELECT stock, remaining FROM drops WHERE id = ?", drop_id
    )
    states = Counter(state for _, _, state in claims.values())
    assert total == stock and int(str(remaining)) >= 0
    assert int(str(remaining)) + states["held"] + states["paid"] == stock, (remaining, states)
    assert states["paid"] <= stock
    completed = {
        session["url"]
        for session in shop.stripe.sessions.values()
        if session["status"] == "complete"
    }
    paid_urls = {url for _, url, state in claims.values() if state in ("paid", "refunded")}
    assert completed == paid_urls, (completed, paid_urls)

    # Every planned post of the drop (countdowns, the opening post) is in #drops exactly once.
    planned = {
        int(str(send_id))
        for (send_id,) in rows(
            database_path,
            "SELECT id FROM scheduled_sends WHERE drop_id = ? AND kind IN ('countdown', 'opening')",
            drop_id,
        )
    }
    posted = Counter(markers(sb.messages(community.drops.id)))
    assert posted == Counter(dict.fromkeys(planned, 1)), (posted, planned)
    return Invariants(waitlist, claims)


WARM = "dropbell-fault-suite: imported"
LOGGED_IN = "dropbell: logged in as"
# A fork server: one process imports everything (the cogs too) once, then forks a child per
# bot life, each running `dropbell run` with its test's environment and log. A restart in the
# suite then costs the connect and start-up, not 2-5 s of imports per process on this machine
# (a real restart pays them, but no invariant depends on how long it takes). Children are
# reaped by the server (SIGCHLD ignored). As for the in-process bot (tests/harness.py), they do
# not wait 2 s for GUILD_CREATEs the sandbox sent at once.
FORK_SERVER = f"""
import functools, importlib, json, os, signal, sys
import bot.bot, bot.cli, bot.runner
for name in bot.bot.discover_extensions():
    importlib.import_module(name)
bot.runner.built_bot = functools.partial(bot.runner.built_bot, guild_ready_timeout=0.05)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
print({WARM!r}, flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.environ.update(request["env"])
        code = 1
        try:
            code = bot.cli.main(["run", "--config", os.devnull])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
"""


class BotLife:
    """One ``dropbell run`` process forked by the :class:`ForkServer`."""

    def __init__(self, pid: int, log: Path) -> None:
        self.pid = pid
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    async def logged_in(self) -> None:
        await wait_for(lambda: LOGGED_IN in self.output(), 30, "the bot to log in")

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind; returns once the process is gone."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        await wait_for(lambda: not self.alive(), 10, "the killed bot to be gone")


class ForkServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", FORK_SERVER],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._warm = False

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().decode().strip()

    async def fork(self, env: Mapping[str, str]) -> BotLife:
        """A new bot process serving with ``env``; returns once it logged in."""
        assert self.process.stdin is not None
        if not self._warm:
            warm = await asyncio.to_thread(self._line)
            assert warm == WARM, warm
            self._warm = True
        self.count += 1
        log = self.folder / f"bot.{self.count}.log"
        request = {"env": dict(env), "log": str(log)}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        life = BotLife(int(await asyncio.to_thread(self._line)), log)
        await life.logged_in()
        return life

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


def bot_env(
    sb: Sandbox, shop: SandboxShop, database_path: Path, guild_id: int, port: int, **extra: str
) -> dict[str, str]:
    return {
        "DROPBELL_DISCORD__TOKEN": TOKEN,
        "DROPBELL_DISCORD__API_BASE": sb.api_base,
        "DROPBELL_DISCORD__GATEWAY_URL": sb.gateway_url,
        "DROPBELL_DISCORD__DEV_GUILD_ID": str(guild_id),
        "DROPBELL_DATABASE__URL": database_url(database_path),
        "DROPBELL_WEB__PORT": str(port),
        "DROPBELL_SHOPS__SANDBOX__KIND": "sandbox",
        "DROPBELL_SHOPS__SANDBOX__API_BASE": shop.base_url,
        "DROPBELL_SHOPS__SANDBOX__WEBHOOK_SECRET": shop.stripe.webhook_secret,
        **extra,
    }
