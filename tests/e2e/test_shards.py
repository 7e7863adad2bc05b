"""Two bot processes, shard 0 and shard 1 of 2, on one PostgreSQL database: Discord (the
sandbox) gives each only its shard's servers, and each answers the fans of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.gateway import shard_of
from tests.databases import on_postgresql
from tests.harness import BotProcess, Community, build_community, create_drop, drop_id_of, wait_for

pytestmark = pytest.mark.skipif(
    not on_postgresql(),
    reason="several bot processes share a database only on PostgreSQL (a SQLite file has one)",
)

SHARDS = 2


async def community_per_shard(sandbox: Sandbox) -> list[Community]:
    """One server in each shard (a snowflake's shard is its millisecond: wait for one)."""
    found: dict[int, Community] = {}
    while len(found) < SHARDS:
        community = build_community(sandbox, name=f"Club {len(sandbox.world.guilds)}", fans=2)
        found.setdefault(shard_of(community.guild.id, SHARDS), community)
        await wait_for(lambda: True)
    return [found[shard] for shard in range(SHARDS)]


def servers_of(sandbox: Sandbox, shard: int) -> int:
    return sum(1 for guild_id in sandbox.world.guilds if shard_of(guild_id, SHARDS) == shard)


async def test_two_processes_each_run_their_shard_and_a_join_works_in_each(
    sandbox: Sandbox, database_path: Path, tmp_path: Path
) -> None:
    communities = await community_per_shard(sandbox)
    processes = []
    for shard, community in enumerate(communities):
        process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / f"{shard}.log")
        process.env["DROPBELL_DISCORD__SHARD_COUNT"] = str(SHARDS)
        process.env["DROPBELL_DISCORD__SHARD_IDS"] = f"[{shard}]"
        processes.append(process)
    identifies = sandbox.stats["identifies"]
    for process in processes:
        process.start()
    try:
        await wait_for(
            lambda: sandbox.stats["identifies"] >= identifies + SHARDS, 30, "both shards to connect"
        )
        shards = sorted(s.shard for s in sandbox.gateway.sessions.values() if s.shard)
        assert shards == [[0, SHARDS], [1, SHARDS]]
        for shard, process in enumerate(processes):
            seen = f"in {servers_of(sandbox, shard)} servers"

            def ready(process: BotProcess = process, seen: str = seen) -> bool:
                return seen in process.output()

            await wait_for(ready, 15, f"shard {shard} ready")
        for community in communities:
            post = await create_drop(sandbox, community, timeout=10)
            fan = community.fans[0]
            answer = await sandbox.click(fan, post, f"dropbell:join:{drop_id_of(post)}", timeout=10)
            assert answer.ephemeral
            joined = "You're #1 of 1 for **Night Moth Tee**"
            assert answer.content.startswith(joined), answer.content
    finally:
        for process in processes:
            if process.process and process.process.poll() is None:
                assert await process.terminate() == 0, process.output()
