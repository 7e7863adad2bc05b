"""The foundation's promises: the error path, restarts, resumes, rate limits, strict sandbox."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from pathlib import Path

import discord
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import storage.collector_tables  # noqa: F401  (its tables join the metadata)
from sandbox import Sandbox
from storage.engine import Database
from storage.migrate import current_revision, head_revision, upgrade
from storage.tables import metadata
from tests.databases import database_kind, database_url, query
from tests.harness import (
    REPO,
    TOKEN,
    BotProcess,
    Community,
    InProcessBot,
    create_drop,
    drop_id_of,
    settings_for,
    wait_for,
)


async def test_a_failing_command_gives_one_sentence_with_an_error_id(
    sandbox: Sandbox,
    community: Community,
    bot_runner: InProcessBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await bot_runner.start(extra_extensions=["tests.support.boom"])
    await bot.tree.sync(guild=discord.Object(community.guild.id))
    with caplog.at_level(logging.ERROR, logger="dropbell.errors"):
        answer = await sandbox.slash(community.fans[0], "boom")
    assert answer.ephemeral
    match = re.search(r"\(error ([0-9a-f]{8})\)", answer.content)
    assert match, answer.content
    assert "Traceback" not in answer.content and "kaboom" not in answer.content
    [record] = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert record.exc_info is not None and "kaboom" in str(record.exc_info[1])


async def test_a_broken_extension_is_skipped_and_the_rest_runs(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start(extra_extensions=["tests.support.broken"])
    assert "tests.support.broken" in bot.failed_extensions
    answer = await sandbox.slash(community.fans[0], "dropbell about")
    assert f"Database: {database_kind()}" in answer.content


async def test_a_dropped_gateway_resumes_and_answers_the_next_interaction(
    sandbox: Sandbox, community: Community, bot
) -> None:
    await sandbox.drop_gateway()
    await sandbox.wait_for_resume(timeout=15)
    assert sandbox.stats["identifies"] == 1 and sandbox.stats["resumes"] >= 1
    answer = await sandbox.slash(community.fans[0], "dropbell about")
    assert "dropbell" in answer.content


async def test_rate_limited_routes_are_waited_out_not_lost(
    sandbox: Sandbox, community: Community, bot
) -> None:
    sandbox.rate_limit("POST /channels/{channel_id}/messages", limit=1, per=1.0)
    channel = bot.get_partial_messageable(community.drops.id)
    await asyncio.gather(*(channel.send(f"post {i}") for i in range(3)))
    assert [m.content for m in sandbox.messages(community.drops.id)][-3:] == [
        "post 0",
        "post 1",
        "post 2",
    ] or sorted(m.content for m in sandbox.messages(community.drops.id)[-3:]) == [
        "post 0",
        "post 1",
        "post 2",
    ]


async def test_the_sandbox_fails_a_test_that_calls_an_unimplemented_route(
    sandbox: Sandbox, community: Community, bot
) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(
            discord.http.Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=community.guild.id)
        )
    with pytest.raises(AssertionError, match="audit-logs"):
        sandbox.assert_no_unimplemented()
    sandbox.unimplemented.clear()  # the fixture's own check would fail this test otherwise


async def test_migrations_from_empty_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with Database(database_url(path)) as database:
        assert await current_revision(database) is None
        assert await upgrade(database) == head_revision()
        assert await upgrade(database) == head_revision()  # idempotent
        async with database.read() as connection:
            tables = set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
            if database.dialect == "sqlite":
                journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
                assert journal == "wal"
    assert {"guild_settings", "drops", "waitlist_entries"} <= tables


async def test_migrations_build_exactly_the_tables_in_code(tmp_path: Path) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with Database(database_url(tmp_path / "compare.db")) as database:
        await upgrade(database)
        async with database.read() as connection:
            assert await connection.run_sync(differences) == []


async def test_persistent_button_works_after_the_bot_process_restarts(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    async with process.running(sandbox):
        post = await create_drop(sandbox, community, timeout=10, name="Restart Tee")
        join = f"dropbell:join:{drop_id_of(post)}"
        process.kill()  # kill -9: no goodbye to the gateway
        identifies = sandbox.stats["identifies"]
        process.start()
        await wait_for(lambda: sandbox.stats["identifies"] > identifies, 30, "a new IDENTIFY")
        await sandbox.wait_for_bot(timeout=30)
        answer = await sandbox.click(community.fans[0], post, join, timeout=10)
        assert answer.content.startswith("You're #1 of 1 for **Restart Tee**")
        assert await process.terminate() == 0  # SIGTERM is a clean exit
    assert TOKEN not in process.output()


async def test_second_start_on_the_same_file_keeps_state(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    runner = InProcessBot(settings_for(sandbox, database_path, community.guild.id))
    await runner.start()
    await sandbox.slash(community.manager, "dropbell setup", {"announce_channel": community.drops})
    await runner.stop()
    await runner.start()
    try:
        bot = runner.bot
        assert bot is not None
        settings = await bot.services.guild_settings.get(community.guild.id)
        assert settings.announce_channel_id == community.drops.id
    finally:
        await runner.stop()


async def test_acknowledged_joins_survive_kill_9(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    async with process.running(sandbox):
        post = await create_drop(sandbox, community, timeout=10, name="Crash Tee")
        join = f"dropbell:join:{drop_id_of(post)}"
        fans = [sandbox.create_member(community.guild.id, f"crash{i}") for i in range(60)]
        answers = await asyncio.gather(
            *(sandbox.click(fan, post, join, timeout=10) for fan in fans)
        )
        process.kill()  # the instant the last fan has their answer: no clean shutdown
    assert all(answer.content.startswith("You're #") for answer in answers)
    stored = {
        user_id for (user_id,) in query(database_path, "SELECT user_id FROM waitlist_entries")
    }
    assert stored == {fan.id for fan in fans}


async def test_dropbell_sync_publishes_the_commands(
    sandbox: Sandbox, community: Community, database_path: Path
) -> None:
    env = {
        **BotProcess(sandbox, database_path, community.guild.id, database_path).env,
        "DROPBELL_DISCORD__DEV_GUILD_ID": "",
    }
    env.pop("DROPBELL_DISCORD__DEV_GUILD_ID")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "sync", "--config", os.devnull,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    published = {command["name"] for command in sandbox.commands()}
    assert {"dropbell", "drop", "waitlist", "announce"} <= published
    assert f"synced {len(published)} commands to all servers" in out.decode()
    assert TOKEN not in out.decode() + err.decode()
