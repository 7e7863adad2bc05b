"""The foundation end to end: login, sync, /dropbell about, the error path."""

from __future__ import annotations

from sandbox import Sandbox
from tests.databases import database_kind
from tests.harness import Community


async def test_login_sync_and_about(sandbox: Sandbox, community: Community, bot) -> None:
    assert sandbox.stats["identifies"] == 1
    assert bot.get_guild(community.guild.id) is not None
    names = {command["name"] for command in sandbox.commands(community.guild.id)}
    assert {"dropbell", "drop", "waitlist"} <= names

    result = await sandbox.slash(community.fans[0], "dropbell about")
    assert result.ephemeral
    assert "dropbell" in result.content
    assert f"Database: {database_kind()}" in result.content
    assert "Gateway latency" in result.content
