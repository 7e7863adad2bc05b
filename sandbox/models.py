"""What the sandbox's world is made of: snowflakes, users, roles, channels, members, guilds,
files and messages, and the permission bits the sandbox checks. Plain data with no I/O; the
world that holds them is :class:`sandbox.world.World`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import mimetypes
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits used by the sandbox itself (values as in discord.Permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_ROLES = 1 << 28
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_EVENTS = 1 << 33
CREATE_EVENTS = 1 << 44
ALL_PERMISSIONS = (1 << 53) - 1

EVERYONE_DEFAULT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
)
BOT_DEFAULT = (
    SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | MANAGE_EVENTS
    | MENTION_EVERYONE
    | READ_MESSAGE_HISTORY
    | VIEW_CHANNEL
    | USE_APPLICATION_COMMANDS
)

FLAG_EPHEMERAL = 64
FLAG_LOADING = 128


class SandboxError(Exception):
    """The test asked for something Discord would never send (unknown command, option...)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


class Snowflakes:
    """Snowflake ids whose timestamp part is meaningful (discord.py's ``created_at``).

    Anchored (``anchor=``), ids are deterministic until :meth:`release`: a time is taken
    relative to when the generator was made, rounded to the hour, and placed relative to the
    anchor instead of now. A world built the same way then gets the same ids on every start, so
    a bot that reconnects to a restarted sandbox finds its guild, channels and roles again.
    Ages stay right relative to each other but count from the anchor, not from today.
    """

    def __init__(self, anchor: dt.datetime | None = None) -> None:
        # 22 low bits (worker, process, increment) used as one counter: unique per millisecond.
        self._counter = itertools.count(1)
        self._anchor = anchor
        self._reference = utcnow()

    def release(self) -> None:
        """From now on ids carry the real time (messages, interactions...)."""
        self._anchor = None

    def at(self, when: dt.datetime) -> int:
        if self._anchor is not None:
            hours = round((when - self._reference) / dt.timedelta(hours=1))
            when = self._anchor + dt.timedelta(hours=hours)
        ms = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
        if ms < 0:
            raise SandboxError(f"{when.isoformat()} is before Discord's epoch (2015)")
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)

    def now(self) -> int:
        return self.at(utcnow())


def snowflake_time(snowflake: int) -> dt.datetime:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = False
    color: int = 0
    hoist: bool = False
    managed: bool = False


@dataclass
class Channel:
    id: int
    name: str
    type: int = 0  # 0 text, 1 DM
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    recipient_id: int | None = None
    last_message_id: int | None = None


@dataclass
class Member:
    user: User
    guild_id: int
    joined_at: dt.datetime
    roles: list[int] = field(default_factory=list)
    extra_permissions: int = 0
    nick: str | None = None
    permissions: int = 0  # computed by World.compute_permissions

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    everyone_role_id: int = 0
    channel_ids: list[int] = field(default_factory=list)
    role_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    bot_permissions: int = BOT_DEFAULT
    bot_role_id: int = 0
    joined_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class StoredFile:
    """An attachment held by the sandbox and served at ``url``."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str = ""
    description: str | None = None
    expires_at: float | None = None  # time.monotonic() after which the URL answers 404

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Message:
    id: int
    channel_id: int
    author_id: int
    content: str = ""
    guild_id: int | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredFile] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_users: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    flags: int = 0
    created_at: dt.datetime = field(default_factory=utcnow)
    edited_at: dt.datetime | None = None
    edits: int = 0
    interaction_id: int | None = None
    webhook_id: int | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    def custom_ids(self) -> dict[str, int]:
        """Every component ``custom_id`` on the message -> its component type."""
        return {cid: int(comp["type"]) for cid, comp in self.components_by_id().items()}

    def components_by_id(self) -> dict[str, dict[str, Any]]:
        """Every component that has a ``custom_id`` (at any nesting), by that id."""
        found: dict[str, dict[str, Any]] = {}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "custom_id" in node and "type" in node:
                    found[str(node["custom_id"])] = node
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.components)
        return found


def guess_content_type(filename: str, given: str | None) -> str:
    if given and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


# What one request may upload unless a test lowers it (Discord's depends on the server's boost
# level and reaches bots as the interaction's ``attachment_size_limit``).
ATTACHMENT_SIZE_LIMIT = 25 * 1024 * 1024
