"""What an operator sees when Discord says no or goes away: ``dropbell`` as a child process
against the sandbox, one line per event, never a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from bot.endpoints import loopback_connector
from bot.runner import built_bot, publish_commands
from sandbox import Sandbox, seed_demo_world
from tests.databases import database_url
from tests.harness import REPO, TOKEN, BotProcess, Community, settings_for, wait_for

TOKEN_REFUSED = (
    "{api_base} refused the token (401 Unauthorized); copy it from the Discord developer "
    "portal (your application, Bot page) and set discord.token or DROPBELL_DISCORD__TOKEN."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_token_is_one_sentence(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    sandbox.accept_tokens("the-one-real-token")
    process = BotProcess(sandbox, database_path, community.guild.id, database_path.parent / "l")
    # Waited for off the loop: the sandbox shares it and must answer the child.
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "run", "--config", os.devnull],
        cwd=REPO,
        env=process.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == TOKEN_REFUSED.format(api_base=sandbox.api_base)


async def test_run_waits_for_an_unreachable_server_then_connects(
    tmp_path: Path, database_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v10"
    waiting = Sandbox(port=port)  # not started yet: nothing listens on the port
    process = BotProcess.__new__(BotProcess)
    process.env = {
        **os.environ,
        "DROPBELL_DISCORD__TOKEN": TOKEN,
        "DROPBELL_DISCORD__API_BASE": url,
        "DROPBELL_DISCORD__GATEWAY_URL": f"ws://127.0.0.1:{port}/gateway",
        "DROPBELL_DATABASE__URL": database_url(database_path),
        "DROPBELL_WEB__PORT": "0",
    }
    process.log, process.process = tmp_path / "bot.log", None
    process.start()
    try:
        await wait_for(lambda: "attempt 2" in process.output(), 10, "two attempts")
        lines = [line for line in process.output().splitlines() if "cannot reach" in line]
        assert lines[0].endswith(
            f"dropbell.runner: cannot reach {url} (Connection refused); attempt 1, retrying in 1s"
        )
        assert lines[1].endswith("attempt 2, retrying in 2s")
        await waiting.start()
        await waiting.wait_for_bot(timeout=30)
        assert await process.terminate() == 0
        assert "Traceback" not in process.output()
    finally:
        if process.process and process.process.poll() is None:
            process.kill()
        await waiting.stop()


async def test_a_gateway_reconnect_is_one_line_and_a_seeded_sandbox_keeps_its_ids(
    tmp_path: Path, database_path: Path
) -> None:
    port = free_port()
    first = Sandbox(port=port, seed=7)
    await first.start()
    world = seed_demo_world(first)
    first.ids.release()
    process = BotProcess(first, database_path, world.guild.id, tmp_path / "bot.log")
    try:
        async with process.running(first):
            await first.stop()
            await wait_for(
                lambda: "Attempting a reconnect" in process.output(), 20, "a reconnect attempt"
            )
            # The same seed builds the same world on the same port: the bot carries on there.
            second = Sandbox(port=port, seed=7)
            await second.start()
            try:
                again = seed_demo_world(second)
                second.ids.release()
                assert (again.guild.id, again.drops.id) == (world.guild.id, world.drops.id)
                await wait_for(lambda: second.stats["identifies"] >= 1, 30, "the bot to return")
                assert await process.terminate() == 0
            finally:
                await second.stop()
        output = process.output()
        assert "Traceback" not in output
        reconnects = [line for line in output.splitlines() if "Attempting a reconnect" in line]
        assert reconnects
        for line in reconnects:
            assert "WARNING discord.client: gateway connection lost (" in line, line
    finally:
        if process.process and process.process.poll() is None:
            process.kill()


async def test_sync_publishes_the_commands_without_starting_the_scheduler(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    settings = settings_for(sandbox, database_path, None)
    async with built_bot(settings, connector=loopback_connector(), commands_only=True) as bot:
        count = await publish_commands(bot, TOKEN, community.guild.id)
        # The scheduler would send every post that fell due while the bot was down.
        assert bot.services.schedule.sender is None
    assert count > 0
    assert len(sandbox.world.guild_commands[community.guild.id]) == count
