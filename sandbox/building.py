"""Building and reading the sandbox's world from a test: guilds, channels, roles, members, DMs,
and bot messages posted "in the past". Part of :class:`sandbox.Sandbox`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from . import payloads
from .builder import SandboxAttachment
from .gateway import Gateway
from .models import Channel, Guild, Member, Message, Role, SandboxError, Snowflakes, User, utcnow
from .world import World


class WorldBuildingMixin:
    world: World
    ids: Snowflakes
    gateway: Gateway
    owner: User
    bot_user_id: int

    def create_guild(self, name: str) -> Guild:
        guild = self.world.add_guild(name, self.owner)
        self.world.add_channel(guild.id, "general")
        now = utcnow()
        self.world.add_member(guild.id, self.owner, joined_at=now)
        # Like Discord, the bot gets a managed role carrying the permissions it was invited with.
        bot_role, _ = self.world.add_role(guild.id, self.world.bot.name, guild.bot_permissions)
        bot_role.managed = True
        guild.bot_role_id = bot_role.id
        self.world.add_member(guild.id, self.world.bot, joined_at=now, roles=[bot_role.id])
        session = self.gateway.session_for(guild.id)
        intents = session.intents if session is not None else 0
        self.gateway.dispatch("GUILD_CREATE", payloads.guild(guild, self.world, intents=intents))
        return guild

    def create_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        chan = self.world.add_channel(guild_id, name, topic=topic)
        self.gateway.dispatch("CHANNEL_CREATE", payloads.channel(chan, self.world))
        return chan

    def create_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        position: int | None = None,
    ) -> Role:
        """A role just above @everyone, as Discord creates one, or at ``position`` (roles at or
        above it move up one, each with a GUILD_ROLE_UPDATE)."""
        role, moved = self.world.add_role(
            guild_id, name, permissions, mentionable=mentionable, position=position
        )
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": payloads.role(role)}
        )
        for other in moved:
            self.gateway.dispatch(
                "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": payloads.role(other)}
            )
        return role

    def move_role(self, guild_id: int, role_id: int, position: int) -> None:
        """A manager drags the role to ``position`` in Server Settings → Roles (the roles in
        between shift): a GUILD_ROLE_UPDATE for each role that moved."""
        for role in self.world.move_role(guild_id, role_id, position):
            self.gateway.dispatch(
                "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": payloads.role(role)}
            )

    def delete_role(self, guild_id: int, role_id: int) -> None:
        """Someone deleted the role in Discord: members lose it, GUILD_ROLE_DELETE follows."""
        guild = self.world.guild(guild_id)
        role = self.world.roles.get(role_id)
        if role is None or role.guild_id != guild_id or role_id == guild.everyone_role_id:
            raise SandboxError(f"no deletable role {role_id} in guild {guild_id}")
        guild.role_ids.remove(role_id)
        del self.world.roles[role_id]
        for member in guild.members.values():
            if role_id in member.roles:
                member.roles.remove(role_id)
                self.world.refresh_permissions(member)
        for other_id in guild.role_ids:
            other = self.world.roles[other_id]
            if other.position > role.position:
                other.position -= 1
        self.gateway.dispatch(
            "GUILD_ROLE_DELETE", {"guild_id": str(guild_id), "role_id": str(role_id)}
        )

    def create_member(
        self,
        guild_id: int,
        name: str,
        *,
        joined_at: dt.datetime | None = None,
        account_created_at: dt.datetime | None = None,
        roles: Iterable[int] = (),
        permissions: int | None = None,
        dms_open: bool = True,
    ) -> Member:
        now = utcnow()
        created = account_created_at or now - dt.timedelta(days=365)
        user = self.world.add_user(name, created)
        user.dms_open = dms_open
        member = self.world.add_member(
            guild_id,
            user,
            joined_at=joined_at or now,
            roles=list(roles),
            extra_permissions=permissions or 0,
        )
        data = payloads.member(member)
        data["guild_id"] = str(guild_id)
        self.gateway.dispatch("GUILD_MEMBER_ADD", data)
        return member

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """The member leaves the server (or is kicked): GET member answers 10007 from now on,
        and a bot sharing no other server with them can no longer DM them (50007)."""
        member = self.world.remove_member(guild_id, user_id)
        self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild_id), "user": payloads.user(member.user)}
        )

    def set_bot_permissions(self, guild_id: int, bitfield: int) -> None:
        """What the sandbox's own checks and ``app_permissions`` use (the bot's managed role).

        discord.py adds @everyone's permissions on top when it computes them itself."""
        guild = self.world.guild(guild_id)
        guild.bot_permissions = bitfield
        role = self.world.roles[guild.bot_role_id]
        role.permissions = bitfield
        self.world.refresh_permissions(guild.members[self.bot_user_id])
        self.gateway.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": payloads.role(role)}
        )

    def close_dms(self, user_id: int) -> None:
        self.world.users[user_id].dms_open = False

    def open_dms(self, user_id: int) -> None:
        self.world.users[user_id].dms_open = True

    def attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> SandboxAttachment:
        return SandboxAttachment(filename, data, content_type)

    def post_message(
        self,
        channel: Channel | int,
        content: str = "",
        *,
        created_at: dt.datetime | None = None,
        embeds: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
    ) -> Message:
        """A message the bot posted earlier (e.g. days ago: ``created_at=``), with a snowflake
        from that moment, so old-message rules apply to it as on Discord."""
        chan_id = channel if isinstance(channel, int) else channel.id
        chan = self.world.channels.get(chan_id)
        if chan is None:
            raise SandboxError(f"no channel {channel!r}")
        when = created_at or utcnow()
        message = Message(
            id=self.ids.at(when),
            channel_id=chan.id,
            guild_id=chan.guild_id,
            author_id=self.world.bot.id,
            content=content,
            embeds=list(embeds or []),
            components=list(components or []),
            created_at=when,
        )
        return self.world.add_message(message)

    def age_message(self, message: Message | int, by: dt.timedelta) -> Message:
        """Pretend ``message`` was created ``by`` earlier (its id keeps its timestamp; the
        sandbox's own checks read ``created_at``)."""
        msg_id = message if isinstance(message, int) else message.id
        found = self.world.messages_by_id.get(msg_id)
        if found is None:
            raise SandboxError(f"no message {msg_id}")
        found.created_at -= by
        return found

    def set_event_user_count(self, guild_id: int, event_id: int, count: int) -> None:
        """Members who marked themselves interested (Discord reports it as user_count)."""
        self.world.scheduled_events[guild_id][event_id]["user_count"] = count

    # -- reading the world ----------------------------------------------------------------------
    def messages(self, channel_id: int) -> list[Message]:
        return list(self.world.channel_messages.get(channel_id, []))

    def dms(self, user_id: int) -> list[Message]:
        chan_id = self.world.dm_channels.get(user_id)
        return [] if chan_id is None else self.messages(chan_id)

    def scheduled_events(self, guild_id: int) -> list[dict[str, Any]]:
        return list(self.world.scheduled_events.get(guild_id, {}).values())

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return list(self.world.commands_for(guild_id))

    def member(self, guild_id: int, name_or_id: str | int) -> Member:
        guild = self.world.guild(guild_id)
        for m in guild.members.values():
            if m.id == name_or_id or m.name == name_or_id:
                return m
        raise SandboxError(f"no member {name_or_id!r} in guild {guild_id}")
