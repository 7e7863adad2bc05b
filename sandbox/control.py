"""The control endpoint under /_sandbox/: drive the sandbox with curl while a bot is attached."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import payloads
from .http_util import jresp
from .models import Member, Message, SandboxError
from .results import InteractionResult

if TYPE_CHECKING:
    from .server import Sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _message(m: Message) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "author_id": str(m.author_id),
        "content": m.content,
        "embeds": m.embeds,
        "components": m.components,
        "attachments": [
            {"filename": f.filename, "size": f.size, "content_type": f.content_type, "url": f.url}
            for f in m.attachments
        ],
        "mention_roles": [str(r) for r in m.mention_roles],
        "flags": m.flags,
        "created_at": m.created_at.isoformat(),
        "edited_at": m.edited_at.isoformat() if m.edited_at else None,
        "edits": m.edits,
    }


async def final_answer(result: InteractionResult, timeout: float) -> dict[str, Any]:
    """What the member ends up seeing: for a deferred response, wait for its followup or edit
    (``loading`` stays true if the bot never answers within ``timeout``)."""
    with contextlib.suppress(TimeoutError):
        await result.wait_final(timeout)
    return result.to_json()


def control_routes(sb: Sandbox) -> list[tuple[str, str, Handler]]:
    world = sb.world

    def guarded(fn: Callable[[web.Request], Awaitable[Any]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                result = await fn(request)
            except SandboxError as exc:
                return jresp({"error": str(exc)}, 400)
            except TimeoutError as exc:
                return jresp({"error": str(exc)}, 504)
            except (KeyError, ValueError, TypeError) as exc:
                return jresp({"error": f"bad request: {exc!r}"}, 400)
            return jresp(result)

        return handler

    async def body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def guild_id(data: dict[str, Any]) -> int:
        if data.get("guild_id"):
            return int(data["guild_id"])
        if not world.guilds:
            raise SandboxError("the sandbox has no guild yet")
        return next(iter(world.guilds))

    def find_member(data: dict[str, Any]) -> Member:
        gid = guild_id(data)
        key = data.get("member_id") or data.get("name") or data.get("member")
        if key is None:
            raise SandboxError("give member_id or name")
        return sb.member(gid, int(key) if str(key).isdigit() else str(key))

    async def state(request: web.Request) -> Any:
        guilds = []
        for g in world.guilds.values():
            guilds.append(
                {
                    "id": str(g.id),
                    "name": g.name,
                    "channels": [
                        {"id": str(c), "name": world.channels[c].name} for c in g.channel_ids
                    ],
                    "roles": [payloads.role(world.roles[r]) for r in g.role_ids],
                    "members": [
                        {
                            "id": str(m.id),
                            "name": m.name,
                            "roles": [str(r) for r in m.roles],
                            "permissions": str(m.permissions),
                            "bot": m.user.bot,
                        }
                        for m in g.members.values()
                    ],
                    "commands": [c["name"] for c in world.commands_for(g.id)],
                }
            )
        session = sb.gateway.current
        return {
            "api_base": sb.api_base,
            "gateway_url": sb.gateway_url,
            "application_id": str(sb.application_id),
            "bot_user_id": str(sb.bot_user_id),
            "bot_connected": bool(session and session.conn),
            "guilds": guilds,
            "global_commands": [c["name"] for c in world.global_commands],
            "stats": dict(sb.stats),
            "unimplemented": sorted(set(sb.unimplemented)),
        }

    async def add_member(request: web.Request) -> Any:
        data = await body(request)
        member = sb.create_member(
            guild_id(data),
            str(data["name"]),
            roles=[int(r) for r in data.get("roles", [])],
            permissions=int(data.get("permissions") or 0),
            dms_open=bool(data.get("dms_open", True)),
        )
        return {"id": str(member.id), "name": member.name, "guild_id": str(member.guild_id)}

    async def add_role(request: web.Request) -> Any:
        data = await body(request)
        position = data.get("position")
        role = sb.create_role(
            guild_id(data),
            str(data["name"]),
            int(data.get("permissions") or 0),
            mentionable=bool(data.get("mentionable", False)),
            position=None if position is None else int(position),
        )
        return payloads.role(role)

    async def delete_role(request: web.Request) -> Any:
        role = world.roles.get(int(request.match_info["role_id"]))
        if role is None:
            raise SandboxError(f"no role {request.match_info['role_id']}")
        sb.delete_role(role.guild_id, role.id)
        return {"deleted": str(role.id)}

    async def bot_permissions(request: web.Request) -> Any:
        data = await body(request)
        sb.set_bot_permissions(guild_id(data), int(data["permissions"]))
        return {"permissions": str(data["permissions"])}

    async def slash(request: web.Request) -> Any:
        data = await body(request)
        member = find_member(data)
        channel = int(data["channel_id"]) if data.get("channel_id") else None
        result = await sb.slash(
            member,
            str(data["command"]).lstrip("/"),
            data.get("options") or {},
            channel=channel,
            timeout=float(data.get("timeout", 5)),
        )
        return await final_answer(result, float(data.get("timeout", 5)))

    async def click(request: web.Request) -> Any:
        data = await body(request)
        member = find_member(data)
        result = await sb.click(
            member,
            int(data["message_id"]),
            str(data["custom_id"]),
            values=data.get("values"),
            timeout=float(data.get("timeout", 5)),
        )
        return await final_answer(result, float(data.get("timeout", 5)))

    async def channel_messages(request: web.Request) -> Any:
        return [_message(m) for m in sb.messages(int(request.match_info["channel_id"]))]

    async def dms(request: web.Request) -> Any:
        return [_message(m) for m in sb.dms(int(request.match_info["user_id"]))]

    return [
        ("GET", "/_sandbox/state", guarded(state)),
        ("POST", "/_sandbox/members", guarded(add_member)),
        ("POST", "/_sandbox/roles", guarded(add_role)),
        ("DELETE", "/_sandbox/roles/{role_id}", guarded(delete_role)),
        ("POST", "/_sandbox/bot-permissions", guarded(bot_permissions)),
        ("POST", "/_sandbox/slash", guarded(slash)),
        ("POST", "/_sandbox/click", guarded(click)),
        ("GET", "/_sandbox/channels/{channel_id}/messages", guarded(channel_messages)),
        ("GET", "/_sandbox/dms/{user_id}", guarded(dms)),
    ]
