"""Building INTERACTION_CREATE payloads from synced command schemas, and the REST side of
interactions: the initial callback, followups (webhooks) and @original edits.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import payloads
from .http_util import (
    HTTPError,
    check_message_body,
    edit_message,
    jresp,
    new_message,
    no_content,
    read_body,
)
from .results import InteractionRecord
from .world import FLAG_EPHEMERAL, FLAG_LOADING, Channel, Member, Message, Role, SandboxError, World

ATTACHMENT_SIZE_LIMIT = 25 * 1024 * 1024
MAX_RECORDS = 50_000  # tokens live 15 minutes on Discord; keep the newest ones


@dataclass
class SandboxAttachment:
    """An attachment a fan "uploads" as a slash option (served by the sandbox)."""

    filename: str
    data: bytes
    content_type: str | None = None


class CommandBuilder:
    """Turns ("waitlist join", {"drop": "Tee"}) into Discord's ``data`` for a synced command."""

    def __init__(self, world: World, base_url: str) -> None:
        self.world = world
        self.base_url = base_url

    def find(self, guild_id: int | None, top: str, type_: int = 1) -> dict[str, Any]:
        for scope in ([guild_id] if guild_id else []) + [None]:
            for cmd in self.world.commands_for(scope):
                if cmd["name"] == top and int(cmd.get("type", 1)) == type_:
                    return cmd
        names = {c["name"] for c in self.world.commands_for(None)}
        if guild_id:
            names |= {c["name"] for c in self.world.commands_for(guild_id)}
        known = sorted(names)
        raise SandboxError(f"no synced command /{top} (synced: {', '.join(known) or 'none'})")

    def build(
        self,
        guild_id: int | None,
        name: str,
        options: dict[str, Any],
        focused: str | None = None,
    ) -> dict[str, Any]:
        parts = name.split()
        if not parts:
            raise SandboxError("empty command name")
        cmd = self.find(guild_id, parts[0])
        resolved: dict[str, dict[str, Any]] = {}
        schema_opts: list[dict[str, Any]] = cmd.get("options") or []
        leaf: list[dict[str, Any]] = []
        top_options = leaf
        path = parts[0]
        for part in parts[1:]:
            sub = next((o for o in schema_opts if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise SandboxError(f"/{path} has no subcommand or group {part!r}")
            node: dict[str, Any] = {"type": sub["type"], "name": part, "options": []}
            leaf.append(node)
            leaf = node["options"]
            schema_opts = sub.get("options") or []
            path += f" {part}"
        if any(o["type"] in (1, 2) for o in schema_opts):
            names = ", ".join(o["name"] for o in schema_opts)
            raise SandboxError(f"/{path} needs a subcommand ({names})")
        by_name = {o["name"]: o for o in schema_opts}
        for key in options:
            if key not in by_name:
                raise SandboxError(f"/{path} has no option {key!r} (has: {', '.join(by_name)})")
        for opt in schema_opts:
            if opt["name"] not in options:
                if opt.get("required") and focused is None:
                    raise SandboxError(f"/{path} requires option {opt['name']!r}")
                continue
            value = options[opt["name"]]
            is_focused = focused == opt["name"]
            entry: dict[str, Any] = {"type": opt["type"], "name": opt["name"]}
            if is_focused:
                entry["value"] = str(value)
                entry["focused"] = True
            else:
                entry["value"] = self._typed(opt, value, guild_id, resolved, path)
            leaf.append(entry)
        if focused is not None and focused not in by_name:
            raise SandboxError(f"/{path} has no option {focused!r} to autocomplete")
        if focused is not None and not by_name[focused].get("autocomplete"):
            raise SandboxError(f"/{path} option {focused!r} has no autocomplete")
        data: dict[str, Any] = {
            "id": str(cmd["id"]),
            "name": parts[0],
            "type": 1,
            "options": top_options,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = str(cmd["guild_id"])
        if resolved:
            data["resolved"] = resolved
        return data

    def _typed(
        self,
        opt: dict[str, Any],
        value: Any,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
        path: str,
    ) -> Any:
        kind = int(opt["type"])
        where = f"/{path} option {opt['name']!r}"
        if kind == 3:
            if not isinstance(value, str):
                raise SandboxError(f"{where} is a string, got {value!r}")
            self._check_length(opt, value, where)
            self._check_choice(opt, value, where)
            return value
        if kind == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SandboxError(f"{where} is an integer, got {value!r}")
            self._check_range(opt, value, where)
            self._check_choice(opt, value, where)
            return value
        if kind == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SandboxError(f"{where} is a number, got {value!r}")
            self._check_range(opt, value, where)
            self._check_choice(opt, value, where)
            return value
        if kind == 5:
            if not isinstance(value, bool):
                raise SandboxError(f"{where} is a boolean, got {value!r}")
            return value
        if kind == 6:
            return self._resolve_user(value, guild_id, resolved, where)
        if kind == 7:
            chan = value if isinstance(value, Channel) else self.world.channels.get(_as_id(value))
            if chan is None:
                raise SandboxError(f"{where}: no channel {value!r}")
            types = opt.get("channel_types")
            if types and chan.type not in types:
                raise SandboxError(f"{where}: channel type {chan.type} not in {types}")
            data = payloads.channel(
                chan, self.world, permissions=self.world.bot_permissions_in(chan.id)
            )
            resolved.setdefault("channels", {})[str(chan.id)] = data
            return str(chan.id)
        if kind == 8:
            return self._resolve_role(value, resolved, where)
        if kind == 9:
            if isinstance(value, Role) or _as_id(value) in self.world.roles:
                return self._resolve_role(value, resolved, where)
            return self._resolve_user(value, guild_id, resolved, where)
        if kind == 11:
            if not isinstance(value, SandboxAttachment):
                raise SandboxError(f"{where} takes sb.attachment(...), got {value!r}")
            stored = self.world.add_file(
                value.filename, value.data, value.content_type, self.base_url
            )
            resolved.setdefault("attachments", {})[str(stored.id)] = payloads.attachment(stored)
            return str(stored.id)
        raise SandboxError(f"{where}: option type {kind} is not supported by the sandbox")

    @staticmethod
    def _check_choice(opt: dict[str, Any], value: Any, where: str) -> None:
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise SandboxError(f"{where}: {value!r} is not one of the choices")

    @staticmethod
    def _check_length(opt: dict[str, Any], value: str, where: str) -> None:
        # Discord's client refuses to send a string outside min_length/max_length.
        low, high = opt.get("min_length"), opt.get("max_length")
        if low is not None and len(value) < low:
            raise SandboxError(f"{where}: {len(value)} characters is shorter than {low}")
        if high is not None and len(value) > high:
            raise SandboxError(f"{where}: {len(value)} characters is longer than {high}")

    @staticmethod
    def _check_range(opt: dict[str, Any], value: float, where: str) -> None:
        low, high = opt.get("min_value"), opt.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise SandboxError(f"{where}: {value!r} is outside [{low}, {high}]")

    def _resolve_user(
        self, value: Any, guild_id: int | None, resolved: dict[str, dict[str, Any]], where: str
    ) -> str:
        uid = value.id if isinstance(value, Member) else _as_id(value)
        user = self.world.users.get(uid)
        if user is None:
            raise SandboxError(f"{where}: no user {value!r}")
        resolved.setdefault("users", {})[str(uid)] = payloads.user(user)
        member = self.world.member(guild_id, uid) if guild_id else None
        if member is not None:
            data = payloads.member(member, with_user=False, permissions=True)
            resolved.setdefault("members", {})[str(uid)] = data
        return str(uid)

    def _resolve_role(self, value: Any, resolved: dict[str, dict[str, Any]], where: str) -> str:
        role = value if isinstance(value, Role) else self.world.roles.get(_as_id(value))
        if role is None:
            raise SandboxError(f"{where}: no role {value!r}")
        resolved.setdefault("roles", {})[str(role.id)] = payloads.role(role)
        return str(role.id)


def _as_id(value: Any) -> int:
    if hasattr(value, "id"):
        return int(value.id)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def interaction_payload(
    world: World,
    application_id: int,
    rec: InteractionRecord,
    member: Member,
    chan: Channel,
    data: dict[str, Any],
) -> dict[str, Any]:
    """INTERACTION_CREATE for a guild member, with what discord.py's Interaction reads."""
    guild_id = str(member.guild_id)
    return {
        "id": str(rec.id),
        "application_id": str(application_id),
        "type": rec.type,
        "token": rec.token,
        "version": 1,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "guild_id": guild_id,
        "guild": {"id": guild_id, "locale": "en-US", "features": []},
        "channel_id": str(chan.id),
        "channel": payloads.channel(chan, world, permissions=member.permissions),
        "member": payloads.member(member, permissions=True),
        "app_permissions": str(world.bot_permissions_in(chan.id)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": guild_id},
        "context": 0,
        "data": data,
    }


class InteractionStore:
    """Live interactions by token, and the REST handlers that answer them."""

    def __init__(self, world: World, base_url: str, application_id: int) -> None:
        self.world = world
        self.base_url = base_url
        self.application_id = application_id
        self.by_token: OrderedDict[str, InteractionRecord] = OrderedDict()
        self._tokens = itertools.count(1)
        self.deadline = 3.0  # seconds to answer, as on Discord

    def new_token(self, interaction_id: int) -> str:
        return f"sbx.{interaction_id:x}.{next(self._tokens)}"

    def add(self, record: InteractionRecord) -> None:
        self.by_token[record.token] = record
        if len(self.by_token) > MAX_RECORDS:
            self.by_token.popitem(last=False)

    def _record(self, request: web.Request, id_key: str | None = None) -> InteractionRecord:
        token = request.match_info["webhook_token"]
        rec = self.by_token.get(token)
        if rec is None or (id_key and request.match_info[id_key] != str(rec.id)):
            raise HTTPError(404, 10062, "Unknown interaction")
        if id_key is None and request.match_info["webhook_id"] != str(self.application_id):
            raise HTTPError(404, 10015, "Unknown Webhook")
        return rec

    # POST /interactions/{webhook_id}/{webhook_token}/callback
    async def callback(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        token = request.match_info["webhook_token"]
        rec = self.by_token.get(token)
        if rec is None or request.match_info["webhook_id"] != str(rec.id):
            raise HTTPError(404, 10062, "Unknown interaction")
        if rec.response_type is not None:
            raise HTTPError(400, 40060, "Interaction has already been acknowledged.")
        if now - rec.dispatched_at > self.deadline:
            raise HTTPError(404, 10062, "Unknown interaction")
        body, uploads = await read_body(request)
        rtype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 8, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[rec.type]
        if rtype not in allowed:
            raise HTTPError(400, 50035, f"Invalid Form Body: response type {rtype} not allowed")
        flags = int(data.get("flags") or 0)
        message: Message | None = None
        if rtype == 4:
            check_message_body(data, uploads)
            message = new_message(
                self.world, rec.channel_id, data, uploads, self.base_url,
                interaction_id=rec.id, webhook_id=self.application_id,
            )  # fmt: skip
        elif rtype == 5:
            message = new_message(
                self.world, rec.channel_id, {"flags": flags & FLAG_EPHEMERAL, "content": ""}, {},
                self.base_url, interaction_id=rec.id, webhook_id=self.application_id,
            )  # fmt: skip
            message.flags |= FLAG_LOADING
        elif rtype in (6, 7):
            message = rec.component_message
            if rtype == 7 and message is not None:
                edit_message(self.world, message, data, uploads, self.base_url)
        rec.response_type = rtype
        rec.response_flags = flags
        rec.callback_data = data
        rec.original = message
        rec.callback_at = now
        if not rec.waiter.done():
            rec.waiter.set_result(None)
        rec.changed()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        interaction: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        resource: dict[str, Any] = {"type": rtype}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = rtype == 5
            interaction["response_message_ephemeral"] = message.ephemeral
            resource["message"] = payloads.message(message, self.world)
        return jresp({"interaction": interaction, "resource": resource})

    # POST /webhooks/{webhook_id}/{webhook_token}
    async def followup(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        if rec.response_type is None:
            raise HTTPError(404, 10015, "Unknown Webhook")
        body, uploads = await read_body(request)
        check_message_body(body, uploads)
        message = new_message(
            self.world, rec.channel_id, body, uploads, self.base_url,
            interaction_id=rec.id, webhook_id=self.application_id,
        )  # fmt: skip
        rec.followups.append(message)
        rec.changed()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return jresp(payloads.message(message, self.world))
        return no_content()

    def _target(self, rec: InteractionRecord, message_id: str) -> Message:
        if message_id == "@original":
            if rec.original is None:
                raise HTTPError(404, 10008, "Unknown Message")
            return rec.original
        wanted = int(message_id) if message_id.isdigit() else -1
        for msg in [rec.original, *rec.followups]:
            if msg is not None and msg.id == wanted:
                return msg
        raise HTTPError(404, 10008, "Unknown Message")

    # GET/PATCH/DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}
    async def get_message(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        return jresp(payloads.message(msg, self.world))

    async def edit(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        body, uploads = await read_body(request)
        edit_message(self.world, msg, body, uploads, self.base_url)
        rec.changed()
        return jresp(payloads.message(msg, self.world))

    async def delete(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        self.world.delete_message(msg)
        if msg is rec.original:
            rec.original = None
        elif msg in rec.followups:
            rec.followups.remove(msg)
        rec.changed()
        return no_content()
