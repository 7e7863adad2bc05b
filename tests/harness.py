"""Running the real dropbell bot against the sandbox, in-process or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bot import Dropbell
from bot.config import Settings
from bot.endpoints import loopback_connector
from bot.runner import built_bot
from sandbox import Message, Sandbox, SeedInfo, seed_demo_world
from shops.base import Shop
from tests.databases import database_url

TOKEN = "sandbox-token-for-tests"
REPO = Path(__file__).resolve().parent.parent


# A server with #general, #drops, a manager and fans, as most tests need.
Community = SeedInfo


def build_community(sb: Sandbox, name: str = "Night Moth Club", fans: int = 5) -> Community:
    return seed_demo_world(sb, fans=fans, name=name)


BERLIN_SOON = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d 18:00")


def drop_options(name: str = "Night Moth Tee", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "starts_at": BERLIN_SOON,
        "timezone": "Europe/Berlin",
        "stock": 100,
        **extra,
    }


async def create_drop(
    sb: Sandbox, community: Community, timeout: float = 5.0, **extra: Any
) -> Message:
    """``/drop create`` by the manager into #drops; returns the announcement."""
    result = await sb.slash(
        community.manager,
        "drop create",
        drop_options(channel=community.drops, **extra),
        timeout=timeout,
    )
    followup = await result.wait_followup(timeout=timeout)
    assert "is announced" in followup.content, followup.content
    return sb.messages(community.drops.id)[-1]


def drop_id_of(announcement: Message) -> int:
    join = next(cid for cid in announcement.custom_ids() if cid.startswith("dropbell:join:"))
    return int(join.rsplit(":", 1)[1])


def settings_for(
    sb: Sandbox,
    database_path: Path,
    dev_guild_id: int | None,
    sections: dict[str, Any] | None = None,
    **scheduler: Any,
) -> Settings:
    """Settings pointing the bot at the sandbox; ``scheduler`` overrides that section and
    ``sections`` adds others (``shops``, ``drops``)."""
    return Settings.model_validate(
        (sections or {})
        | {
            "discord": {
                "token": TOKEN,
                "api_base": sb.api_base,
                "gateway_url": sb.gateway_url,
                "dev_guild_id": dev_guild_id,
            },
            "database": {"url": database_url(database_path)},
            # A free port per bot: tests run several bots, and the web listener starts with each.
            "web": {"port": 0},
            "scheduler": scheduler,
        }
    )


def seconds_before(*seconds: float) -> list[float]:
    """Offsets for ``scheduler.*_offsets_minutes`` given in seconds (tests compress time)."""
    return [value / 60 for value in seconds]


class InProcessBot:
    """The real bot in the test's own event loop; start, stop and start again on one file."""

    def __init__(
        self,
        settings: Settings,
        extensions: list[str] | None = None,
        shops: Mapping[str, Shop] | None = None,
    ) -> None:
        self.settings = settings
        self.extensions = extensions
        self.shops = shops  # None: connected from the settings, as `dropbell run` does
        self.bot: Dropbell | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, extra_extensions: list[str] = ()) -> Dropbell:  # type: ignore[assignment]
        stack = contextlib.AsyncExitStack()
        bot = await stack.enter_async_context(
            built_bot(
                self.settings,
                connector=loopback_connector(),
                extensions=self.extensions,
                shops=self.shops,
                # The sandbox sends every GUILD_CREATE at once; don't wait 2 s for stragglers.
                guild_ready_timeout=0.05,
            )
        )
        bot.extension_names = [*bot.extension_names, *extra_extensions]
        self._stack, self.bot = stack, bot
        self._task = asyncio.create_task(bot.start(TOKEN))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._task}, timeout=15, return_when="FIRST_COMPLETED")
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises what stopped the bot
            raise RuntimeError("the bot stopped before it was ready")
        if ready not in done:
            raise TimeoutError("the bot did not become ready within 15 s")
        return bot

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            await self._task
        if self._stack is not None:
            await self._stack.aclose()
        self.bot, self._task, self._stack = None, None, None


class BotProcess:
    """``dropbell run`` as a real child process, for restart and kill -9 tests."""

    def __init__(self, sb: Sandbox, database_path: Path, dev_guild_id: int, log: Path) -> None:
        self.env = {
            **os.environ,
            "DROPBELL_DISCORD__TOKEN": TOKEN,
            "DROPBELL_DISCORD__API_BASE": sb.api_base,
            "DROPBELL_DISCORD__GATEWAY_URL": sb.gateway_url,
            "DROPBELL_DISCORD__DEV_GUILD_ID": str(dev_guild_id),
            "DROPBELL_DATABASE__URL": database_url(database_path),
            "DROPBELL_WEB__PORT": "0",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--config", os.devnull],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def terminate(self) -> int:
        """SIGTERM, then the exit code. Waited for off the loop: the sandbox shares this loop
        and must keep answering the bot while it shuts down."""
        assert self.process is not None
        self.process.terminate()
        return await asyncio.to_thread(self.process.wait, 15)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @contextlib.asynccontextmanager
    async def running(self, sb: Sandbox) -> AsyncIterator[BotProcess]:
        """Started and connected; killed on the way out if a test left it running."""
        self.start()
        try:
            await sb.wait_for_bot(timeout=30)
            yield self
        finally:
            if self.process and self.process.poll() is None:
                self.kill()


async def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` (plain or async) until it holds; a TimeoutError naming ``what``.

    Tests wait for the condition they need, never a fixed time, so they hold on a loaded
    machine; ``timeout`` only bounds a failure.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = predicate()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
