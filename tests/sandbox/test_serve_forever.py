from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
import pytest

from sandbox import serve_forever


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_forever_seeds_and_prints_instructions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    task = asyncio.create_task(serve_forever(port))
    try:
        state = None
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/_sandbox/state") as resp:
                        state = await resp.json()
                        break
                await asyncio.sleep(0.02)
        assert state is not None
        [guild] = state["guilds"]
        assert guild["name"] == "Sandbox Server"
        assert {c["name"] for c in guild["channels"]} == {"general", "drops"}
        names = {m["name"] for m in guild["members"]}
        assert {"manager", "fan1", "fan5"} <= names
        printed = capsys.readouterr().out
        assert f"DROPBELL_DISCORD__API_BASE=http://127.0.0.1:{port}/api/v10" in printed
        assert f"DROPBELL_DISCORD__DEV_GUILD_ID={guild['id']}" in printed
        assert "curl" in printed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
