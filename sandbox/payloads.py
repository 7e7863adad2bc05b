"""Discord-shaped JSON for the world's objects (what discord.py's parsers read)."""

from __future__ import annotations

from typing import Any

from .models import Channel, Guild, Member, Message, Role, StoredFile, User, iso
from .world import World


def user(u: User) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "username": u.name,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": None,
        "bot": u.bot,
        "public_flags": 0,
        "flags": 0,
    }


def client_user(u: User) -> dict[str, Any]:
    data = user(u)
    data.update(verified=True, mfa_enabled=False, locale="en-US", email=None)
    return data


def member(m: Member, *, with_user: bool = True, permissions: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r) for r in m.roles],
        "joined_at": iso(m.joined_at),
        "nick": m.nick,
        "avatar": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(m.user)
    if permissions:
        data["permissions"] = str(m.permissions)
    return data


def role(r: Role) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }


def channel(c: Channel, world: World, *, permissions: int | None = None) -> dict[str, Any]:
    if c.type == 1:
        recipient = world.users.get(c.recipient_id or 0)
        return {
            "id": str(c.id),
            "type": 1,
            "last_message_id": str(c.last_message_id) if c.last_message_id else None,
            "recipients": [user(recipient)] if recipient else [],
            "flags": 0,
        }
    data: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "position": c.position,
        "permission_overwrites": [],
        "topic": c.topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "last_message_id": str(c.last_message_id) if c.last_message_id else None,
        "flags": 0,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


GUILD_MEMBERS_INTENT = 1 << 1


def guild(g: Guild, world: World, *, full: bool = True, intents: int = -1) -> dict[str, Any]:
    """GUILD_CREATE lists every member only with the GUILD_MEMBERS intent (as Discord does);
    otherwise just the bot's own member. ``member_count`` is always the real count."""
    data: dict[str, Any] = {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role(world.roles[r]) for r in g.role_ids],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(g.channel_ids[0]) if g.channel_ids else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
    }
    if full:
        data.update(
            joined_at=iso(g.joined_at),
            large=len(g.members) > 250,
            unavailable=False,
            member_count=len(g.members),
            members=[
                member(m)
                for m in g.members.values()
                if intents & GUILD_MEMBERS_INTENT or m.id == world.bot.id
            ],
            channels=[channel(world.channels[c], world) for c in g.channel_ids],
            threads=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=list(world.scheduled_events.get(g.id, {}).values()),
            soundboard_sounds=[],
        )
    return data


def attachment(f: StoredFile) -> dict[str, Any]:
    return {
        "id": str(f.id),
        "filename": f.filename,
        "size": f.size,
        "url": f.url,
        "proxy_url": f.url,
        "content_type": f.content_type,
        "description": f.description,
    }


def message(m: Message, world: World) -> dict[str, Any]:
    author = world.users.get(m.author_id) or world.bot
    data: dict[str, Any] = {
        "id": str(m.id),
        "type": 0 if m.interaction_id is None else 20,
        "channel_id": str(m.channel_id),
        "author": user(author),
        "content": m.content,
        "timestamp": iso(m.created_at),
        "edited_timestamp": iso(m.edited_at),
        "tts": False,
        "mention_everyone": m.mention_everyone,
        "mentions": [user(world.users[u]) for u in m.mention_users if u in world.users],
        "mention_roles": [str(r) for r in m.mention_roles],
        "attachments": [attachment(f) for f in m.attachments],
        "embeds": m.embeds,
        "components": m.components,
        "pinned": False,
        "flags": m.flags,
    }
    if m.guild_id is not None:
        data["guild_id"] = str(m.guild_id)
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
        data["application_id"] = str(m.webhook_id)
    return data
