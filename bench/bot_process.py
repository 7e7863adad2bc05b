"""The real dropbell bot in its own process, pointed at a sandbox: what benchmarks measure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from bench.floor import end_process
from sandbox import Sandbox

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "sandbox-bench-token"


@contextlib.asynccontextmanager
async def dropbell_process(
    sb: Sandbox,
    database: str,
    guild_id: int,
    *,
    log: Path | None = None,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``dropbell run`` against ``sb`` on the database at the URL ``database`` (SQLite or
    PostgreSQL, see bench/database.py), until the block ends;
    ``env`` adds configuration (``DROPBELL_SHOPS__...``) to the environment it runs in."""
    env = {
        **os.environ,
        "DROPBELL_DISCORD__TOKEN": TOKEN,
        "DROPBELL_DISCORD__API_BASE": sb.api_base,
        "DROPBELL_DISCORD__GATEWAY_URL": sb.gateway_url,
        "DROPBELL_DISCORD__DEV_GUILD_ID": str(guild_id),
        "DROPBELL_DATABASE__URL": database,
        "DROPBELL_WEB__PORT": "0",
        **(env or {}),
    }
    out = log.open("ab") if log is not None else None
    identifies = sb.stats["identifies"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", os.devnull,
        cwd=PROJECT_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=out or asyncio.subprocess.DEVNULL, stderr=out or asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while sb.stats["identifies"] == identifies:
            if process.returncode is not None or loop.time() > deadline:
                raise RuntimeError(
                    f"dropbell did not connect to the sandbox (exit {process.returncode})"
                )
            await asyncio.sleep(0.05)
        await sb.wait_for_bot(timeout=timeout)
        yield process
    finally:
        await end_process(process, grace=15)
        if out is not None:
            out.close()
