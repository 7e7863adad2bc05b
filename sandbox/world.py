"""The sandbox's world: all state of one sandbox (guilds, channels, roles, members, messages,
DMs, files, commands, scheduled events) and the rules that read it (permissions, mentions).

Plain in-memory state with no I/O. The server turns it into Discord-shaped JSON
(see ``payloads.py``); tests read it back through :class:`sandbox.Sandbox`. What it is made of
is in ``models.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    BOT_DEFAULT,
    EVERYONE_DEFAULT,
    FLAG_EPHEMERAL,
    MENTION_EVERYONE,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    SandboxError,
    Snowflakes,
    StoredFile,
    User,
    guess_content_type,
)

_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_USER_MENTION = re.compile(r"<@!?(\d+)>")


class World:
    """All state of one sandbox. Mutated only from the event loop that runs the server."""

    def __init__(self, snowflakes: Snowflakes, bot_user: User) -> None:
        self.ids = snowflakes
        self.bot = bot_user
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.roles: dict[int, Role] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.channel_messages: dict[int, list[Message]] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.files: dict[int, StoredFile] = {}
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.scheduled_events: dict[int, dict[int, dict[str, Any]]] = {}
        # Called with ("MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE", message) for
        # messages everyone can see; the server turns them into gateway dispatches.
        self.message_listeners: list[Callable[[str, Message], None]] = []

    def emit(self, event: str, message: Message) -> None:
        if message.flags & FLAG_EPHEMERAL:
            return
        for listener in self.message_listeners:
            listener(event, message)

    # -- creation ---------------------------------------------------------------------------
    def add_user(self, name: str, created_at: dt.datetime, *, bot: bool = False) -> User:
        user = User(id=self.ids.at(created_at), name=name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner: User) -> Guild:
        guild = Guild(id=self.ids.now(), name=name, owner_id=owner.id)
        self.guilds[guild.id] = guild
        everyone = Role(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=EVERYONE_DEFAULT
        )
        self.roles[everyone.id] = everyone
        guild.everyone_role_id = everyone.id
        guild.role_ids.append(everyone.id)
        self.scheduled_events[guild.id] = {}
        return guild

    def add_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        guild = self.guild(guild_id)
        chan = Channel(
            id=self.ids.now(),
            name=name,
            type=0,
            guild_id=guild_id,
            position=len(guild.channel_ids),
            topic=topic,
        )
        self.channels[chan.id] = chan
        self.channel_messages[chan.id] = []
        guild.channel_ids.append(chan.id)
        return chan

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        position: int | None = None,
    ) -> tuple[Role, list[Role]]:
        """A new role and the roles it pushed up. Like Discord, a new role sits just above
        @everyone (position 1) unless a position is given; roles at or above it move up one."""
        guild = self.guild(guild_id)
        where = 1 if position is None else max(1, position)
        moved = []
        for role_id in guild.role_ids:
            other = self.roles[role_id]
            if other.id != guild.everyone_role_id and other.position >= where:
                other.position += 1
                moved.append(other)
        role = Role(
            id=self.ids.now(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=min(where, len(guild.role_ids)),
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        guild.role_ids.append(role.id)
        return role, moved

    def move_role(self, guild_id: int, role_id: int, position: int) -> list[Role]:
        """Move a role to ``position`` (1 to the top) as dragging it in Server Settings → Roles
        does: the roles in between shift one step the other way. Every role whose position
        changed, the moved one first."""
        guild = self.guild(guild_id)
        role = self.roles.get(role_id)
        if role is None or role.guild_id != guild_id or role_id == guild.everyone_role_id:
            raise SandboxError(f"no movable role {role_id} in guild {guild_id}")
        old, new = role.position, max(1, min(position, len(guild.role_ids) - 1))
        changed = [role] if new != old else []
        for other_id in guild.role_ids:
            other = self.roles[other_id]
            if other is role or other_id == guild.everyone_role_id:
                continue
            if old < other.position <= new:
                other.position -= 1
                changed.append(other)
            elif new <= other.position < old:
                other.position += 1
                changed.append(other)
        role.position = new
        return changed

    def add_member(
        self,
        guild_id: int,
        user: User,
        *,
        joined_at: dt.datetime,
        roles: list[int] | None = None,
        extra_permissions: int = 0,
    ) -> Member:
        guild = self.guild(guild_id)
        for role_id in roles or []:
            if role_id not in guild.role_ids:
                raise SandboxError(f"role {role_id} is not in guild {guild_id}")
        member = Member(
            user=user,
            guild_id=guild_id,
            joined_at=joined_at,
            roles=list(roles or []),
            extra_permissions=extra_permissions,
        )
        guild.members[user.id] = member
        self.refresh_permissions(member)
        return member

    def remove_member(self, guild_id: int, user_id: int) -> Member:
        member = self.guild(guild_id).members.pop(user_id, None)
        if member is None:
            raise SandboxError(f"user {user_id} is not a member of guild {guild_id}")
        return member

    def shares_a_guild_with_bot(self, user_id: int) -> bool:
        return any(
            user_id in guild.members and self.bot.id in guild.members
            for guild in self.guilds.values()
        )

    def refresh_permissions(self, member: Member) -> None:
        member.permissions = self.compute_permissions(member)

    def compute_permissions(self, member: Member) -> int:
        guild = self.guild(member.guild_id)
        if member.id == guild.owner_id:
            return ALL_PERMISSIONS
        if member.id == self.bot.id:
            perms = guild.bot_permissions
        else:
            perms = self.roles[guild.everyone_role_id].permissions | member.extra_permissions
            for role_id in member.roles:
                perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def dm_channel(self, user_id: int) -> Channel:
        existing = self.dm_channels.get(user_id)
        if existing is not None:
            return self.channels[existing]
        chan = Channel(id=self.ids.now(), name="", type=1, recipient_id=user_id)
        self.channels[chan.id] = chan
        self.channel_messages[chan.id] = []
        self.dm_channels[user_id] = chan.id
        return chan

    def add_file(
        self, filename: str, data: bytes, content_type: str | None, base_url: str
    ) -> StoredFile:
        file_id = self.ids.now()
        stored = StoredFile(
            id=file_id,
            filename=filename,
            data=data,
            content_type=guess_content_type(filename, content_type),
            url=f"{base_url}/attachments/{file_id}/{filename}",
        )
        self.files[file_id] = stored
        return stored

    def add_message(self, message: Message, *, listed: bool = True) -> Message:
        """Store a message; ephemeral ones are not listed in their channel."""
        self.messages_by_id[message.id] = message
        chan = self.channels.get(message.channel_id)
        if listed and chan is not None:
            self.channel_messages.setdefault(chan.id, []).append(message)
            chan.last_message_id = message.id
            self.emit("MESSAGE_CREATE", message)
        return message

    def delete_message(self, message: Message) -> None:
        self.messages_by_id.pop(message.id, None)
        listed = self.channel_messages.get(message.channel_id)
        if listed and message in listed:
            listed.remove(message)
            self.emit("MESSAGE_DELETE", message)

    # -- lookup -----------------------------------------------------------------------------
    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise SandboxError(f"no guild {guild_id}") from None

    def member(self, guild_id: int, user_id: int) -> Member | None:
        guild = self.guilds.get(guild_id)
        return None if guild is None else guild.members.get(user_id)

    def channel_guild(self, channel_id: int) -> Guild | None:
        chan = self.channels.get(channel_id)
        if chan is None or chan.guild_id is None:
            return None
        return self.guilds.get(chan.guild_id)

    def bot_permissions_in(self, channel_id: int) -> int:
        guild = self.channel_guild(channel_id)
        if guild is None:
            return BOT_DEFAULT  # DMs: everything a DM allows
        perms = guild.bot_permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def commands_for(self, guild_id: int | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.get(guild_id, [])

    # -- mentions ---------------------------------------------------------------------------
    def resolve_mentions(self, message: Message, allowed: dict[str, Any] | None) -> None:
        """Fill mention_* the way Discord does: mentioned in content and allowed to ping."""
        parse = None if allowed is None else set(allowed.get("parse", []))
        allowed_roles = set() if allowed is None else {int(r) for r in allowed.get("roles", [])}
        allowed_users = set() if allowed is None else {int(u) for u in allowed.get("users", [])}
        can_mention_all = bool(self.bot_permissions_in(message.channel_id) & MENTION_EVERYONE)
        content = message.content
        roles: list[int] = []
        for match in _ROLE_MENTION.finditer(content):
            role = self.roles.get(int(match.group(1)))
            if role is None or role.id in roles:
                continue
            if parse is not None and "roles" not in parse and role.id not in allowed_roles:
                continue
            if role.mentionable or can_mention_all:
                roles.append(role.id)
        users: list[int] = []
        for match in _USER_MENTION.finditer(content):
            uid = int(match.group(1))
            if uid not in self.users or uid in users:
                continue
            if parse is not None and "users" not in parse and uid not in allowed_users:
                continue
            users.append(uid)
        everyone = "@everyone" in content or "@here" in content
        if parse is not None and "everyone" not in parse:
            everyone = False
        message.mention_roles = roles
        message.mention_users = users
        message.mention_everyone = everyone and can_mention_all
