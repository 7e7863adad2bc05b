"""What the security tests share: a snapshot of everything a command could change (every
table's row count, every channel's and DM's messages), and option values for any synced
command, built from its schema so a new command needs no new code here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from discord import app_commands

from bot.bot import Dropbell
from bot.ui import ManagerCog, require_manager
from sandbox import Sandbox
from sandbox.models import Role
from storage.tables import metadata
from tests.e2e.poll_support import berlin_in
from tests.harness import BERLIN_SOON, Community

Snapshot = tuple[dict[str, int], dict[int, int]]


async def snapshot(sb: Sandbox, bot: Dropbell) -> Snapshot:
    counts = {}
    async with bot.database.read() as connection:
        for table in metadata.sorted_tables:
            count = await connection.scalar(sa.select(sa.func.count()).select_from(table))
            counts[table.name] = int(count or 0)
    # Ephemeral answers are not posts: only what others can see counts.
    posts = {
        channel_id: sum(1 for m in sb.messages(channel_id) if not m.ephemeral)
        for channel_id in sb.world.channels
    }
    return counts, posts


def leaf_commands(bot: Dropbell) -> Iterator[app_commands.Command[Any, ..., Any]]:
    for command in bot.tree.walk_commands():
        if isinstance(command, app_commands.Command):
            yield command


def looks_like_a_manager_command(command: app_commands.Command[Any, ..., Any]) -> bool:
    """Any sign that a command is meant for managers: the manager check, a ManagerCog, or
    default permissions (on it or its group) that hide it from members. Deliberately wider
    than what the bot enforces, so a hidden but unchecked command is probed too."""
    node: Any = command
    while node is not None:
        if node.default_permissions is not None and node.default_permissions.value:
            return True
        node = node.parent
    return require_manager in command.checks or isinstance(command.binding, ManagerCog)


def schema_of(sb: Sandbox, guild_id: int, qualified_name: str) -> dict[str, Any]:
    """The synced schema node (what Discord knows) of a command or subcommand."""
    top, *subs = qualified_name.split()
    node = next(c for c in sb.commands(guild_id) + sb.commands() if c["name"] == top)
    for sub in subs:
        node = next(o for o in node.get("options") or [] if o["name"] == sub)
    return node


def fill_options(
    schema: dict[str, Any], community: Community, ids: dict[str, Any], role: Role
) -> dict[str, Any]:
    """A valid value for every option: known names get a real target (``ids``: drop, poll,
    announcement…) so an unchecked command would act on something; the rest by type."""
    by_name: dict[str, Any] = {
        "channel": community.drops,
        "timezone": "Europe/Berlin",
        "starts_at": BERLIN_SOON,
        "at": BERLIN_SOON,
        "closes_at": berlin_in_two_days(),
        "options": "Moth Tee @ 35; Moth Cap",
        **ids,
    }
    values: dict[str, Any] = {}
    for option in schema.get("options") or []:
        name, kind = option["name"], int(option["type"])
        if name in by_name:
            values[name] = by_name[name]
        elif option.get("choices"):
            values[name] = option["choices"][0]["value"]
        elif kind == 3:
            values[name] = "x" * max(1, int(option.get("min_length") or 1))
        elif kind in (4, 10):
            values[name] = int(option.get("min_value") or 1)
        elif kind == 5:
            values[name] = True
        elif kind in (6, 9):
            values[name] = community.fans[-1]
        elif kind == 7:
            values[name] = community.drops
        elif kind == 8:
            values[name] = role
        elif option.get("required"):
            raise AssertionError(f"no value for required option {name!r} (type {kind})")
    return values


def berlin_in_two_days() -> str:
    from datetime import timedelta

    return berlin_in(timedelta(days=2))
