"""Turning a test's ("waitlist join", {"drop": "Tee"}) into Discord's interaction ``data``,
from the command schemas the bot synced."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import payloads
from .limits import Limits, RuleBook
from .models import Channel, Member, Role, SandboxError
from .world import World


@dataclass
class SandboxAttachment:
    """An attachment a fan "uploads" as a slash option (served by the sandbox)."""

    filename: str
    data: bytes
    content_type: str | None = None


class CommandBuilder:
    """Turns ("waitlist join", {"drop": "Tee"}) into Discord's ``data`` for a synced command."""

    def __init__(self, world: World, base_url: str, rules: RuleBook, limits: Limits) -> None:
        self.world = world
        self.base_url = base_url
        self.rules = rules
        self.limits = limits

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
            if self.rules.on("attachment_expiry"):
                # Like Discord's signed CDN URL (whose ``ex`` parameter the sandbox leaves
                # out): served for a while, then 404. A bot that hot-links it breaks later.
                stored.expires_at = time.monotonic() + self.limits.option_attachment_lifetime
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
