"""REST routes under /api/v10 that a bot uses outside of interactions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .http_util import (
    MISSING_PERMISSIONS,
    HTTPError,
    check_message_body,
    edit_message,
    jresp,
    new_message,
    no_content,
    not_found,
    read_body,
)
from .world import (
    ATTACH_FILES,
    CREATE_EVENTS,
    FLAG_EPHEMERAL,
    MANAGE_EVENTS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    Message,
    World,
    iso,
    utcnow,
)

_NAME = re.compile(r"^[-_\w]{1,32}$")


def _invalid(detail: str) -> HTTPError:
    return HTTPError(400, 50035, f"Invalid Form Body: {detail}")


def _validate_options(options: list[dict[str, Any]], where: str) -> None:
    if len(options) > 25:
        raise _invalid(f"{where}: more than 25 options")
    seen: set[str] = set()
    optional_seen = False
    for opt in options:
        name = str(opt.get("name", ""))
        if not _NAME.match(name) or name != name.lower():
            raise _invalid(f"{where}: option name {name!r} is invalid")
        if name in seen:
            raise _invalid(f"{where}: duplicate option {name!r}")
        seen.add(name)
        if not 1 <= len(str(opt.get("description", ""))) <= 100:
            raise _invalid(f"{where} {name}: description must be 1-100 characters")
        if opt.get("type") in (1, 2):
            _validate_options(opt.get("options") or [], f"{where} {name}")
            continue
        if opt.get("required"):
            if optional_seen:
                raise _invalid(f"{where}: required option {name!r} after an optional one")
        else:
            optional_seen = True
        if len(opt.get("choices") or []) > 25:
            raise _invalid(f"{where} {name}: more than 25 choices")
        if opt.get("choices") and opt.get("autocomplete"):
            raise _invalid(f"{where} {name}: choices and autocomplete are exclusive")


class Rest:
    def __init__(
        self,
        world: World,
        base_url: str,
        application_id: int,
        gateway_url: Callable[[], str],
        dispatch: Callable[[str, Any], bool],
    ) -> None:
        self.world = world
        self.base_url = base_url
        self.application_id = application_id
        self.gateway_url = gateway_url
        self.dispatch = dispatch

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/users/@me", self.me),
            ("GET", "/users/{user_id}", self.get_user),
            ("POST", "/users/@me/channels", self.open_dm),
            ("GET", "/oauth2/applications/@me", self.app_info),
            ("GET", "/applications/@me", self.app_info),
            ("GET", "/gateway", self.gateway),
            ("GET", "/gateway/bot", self.gateway_bot),
            ("GET", "/applications/{application_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/commands", self.put_commands),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/channels/{channel_id}/messages", self.history),
            ("POST", "/channels/{channel_id}/messages", self.send),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.guild_roles),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("GET", "/guilds/{guild_id}/scheduled-events", self.list_events),
            ("POST", "/guilds/{guild_id}/scheduled-events", self.create_event),
            ("GET", "/guilds/{guild_id}/scheduled-events/{event_id}", self.get_event),
            ("PATCH", "/guilds/{guild_id}/scheduled-events/{event_id}", self.edit_event),
            ("DELETE", "/guilds/{guild_id}/scheduled-events/{event_id}", self.delete_event),
        ]

    # -- users, application, gateway ---------------------------------------------------------
    async def me(self, request: web.Request) -> web.Response:
        return jresp(payloads.client_user(self.world.bot))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(_int(request.match_info["user_id"]))
        if user is None:
            raise not_found("User", 10013)
        return jresp(payloads.user(user))

    async def app_info(self, request: web.Request) -> web.Response:
        bot = self.world.bot
        owner = next(iter(g.owner_id for g in self.world.guilds.values()), bot.id)
        return jresp(
            {
                "id": str(self.application_id),
                "name": bot.name,
                "icon": None,
                "description": "dropbell sandbox application",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "bot": payloads.user(bot),
                "owner": payloads.user(self.world.users.get(owner, bot)),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": len(self.world.guilds),
            }
        )

    async def gateway(self, request: web.Request) -> web.Response:
        return jresp({"url": self.gateway_url()})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return jresp({"url": self.gateway_url(), "shards": 1, "session_start_limit": limit})

    async def open_dm(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        uid = _int(body.get("recipient_id"))
        if uid not in self.world.users:
            raise not_found("User", 10013)
        return jresp(payloads.channel(self.world.dm_channel(uid), self.world))

    # -- commands -----------------------------------------------------------------------------
    def _app_guild(self, request: web.Request) -> int | None:
        if request.match_info["application_id"] != str(self.application_id):
            raise not_found("Application", 10002)
        gid = request.match_info.get("guild_id")
        if gid is not None and _int(gid) not in self.world.guilds:
            raise HTTPError(403, 50001, "Missing Access")
        return None if gid is None else _int(gid)

    async def get_commands(self, request: web.Request) -> web.Response:
        return jresp(self.world.commands_for(self._app_guild(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._app_guild(request)
        body, _ = await read_body(request)
        incoming = body.get("_list")
        if not isinstance(incoming, list):
            raise _invalid("expected a JSON array of commands")
        if len(incoming) > 100:
            raise _invalid("more than 100 commands")
        previous = {(c["name"], c.get("type", 1)): c for c in self.world.commands_for(guild_id)}
        stored: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        for raw in incoming:
            cmd = dict(raw)
            cmd.setdefault("type", 1)
            key = (str(cmd.get("name", "")), int(cmd["type"]))
            if key in seen:
                raise _invalid(f"duplicate command name {key[0]!r}")
            seen.add(key)
            if cmd["type"] == 1:
                if not _NAME.match(key[0]) or key[0] != key[0].lower():
                    raise _invalid(f"command name {key[0]!r} is invalid")
                if not 1 <= len(str(cmd.get("description", ""))) <= 100:
                    raise _invalid(f"/{key[0]}: description must be 1-100 characters")
                _validate_options(cmd.get("options") or [], f"/{key[0]}")
            old = previous.get(key)
            cmd["id"] = old["id"] if old else str(self.world.ids.now())
            cmd["application_id"] = str(self.application_id)
            cmd["version"] = str(self.world.ids.now())
            cmd.setdefault("options", [])
            perms = cmd.get("default_member_permissions")
            cmd["default_member_permissions"] = None if perms is None else str(perms)
            cmd.setdefault("nsfw", False)
            if guild_id is not None:
                cmd["guild_id"] = str(guild_id)
            stored.append(cmd)
        if guild_id is None:
            self.world.global_commands = stored
        else:
            self.world.guild_commands[guild_id] = stored
        return jresp(stored)

    # -- channels and messages ----------------------------------------------------------------
    def _channel(self, request: web.Request) -> Channel:
        chan = self.world.channels.get(_int(request.match_info["channel_id"]))
        if chan is None:
            raise not_found("Channel", 10003)
        return chan

    def _require(self, chan: Channel, bits: int) -> None:
        if self.world.bot_permissions_in(chan.id) & bits != bits:
            raise HTTPError(*MISSING_PERMISSIONS)

    def _message(self, chan: Channel, request: web.Request) -> Message:
        msg = self.world.messages_by_id.get(_int(request.match_info["message_id"]))
        if msg is None or msg.channel_id != chan.id or msg.ephemeral:
            raise not_found("Message", 10008)
        return msg

    async def get_channel(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        return jresp(payloads.channel(chan, self.world))

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def send(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        body, uploads = await read_body(request)
        if chan.type == 1:
            recipient = self.world.users.get(chan.recipient_id or 0)
            if recipient is None or recipient.bot or not recipient.dms_open:
                raise HTTPError(403, 50007, "Cannot send messages to this user")
        else:
            self._require(chan, VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if uploads else 0))
        check_message_body(body, uploads)
        # Only interaction responses can be ephemeral; Discord ignores the flag elsewhere.
        body["flags"] = int(body.get("flags") or 0) & ~FLAG_EPHEMERAL
        msg = new_message(self.world, chan.id, body, uploads, self.base_url)
        return jresp(payloads.message(msg, self.world))

    async def history(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        if chan.type != 1:
            self._require(chan, VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        query = request.query
        limit = max(1, min(100, _int(query.get("limit", "50"))))
        items = self.world.channel_messages.get(chan.id, [])
        if "before" in query:
            before = _int(query["before"])
            items = [m for m in items if m.id < before]
        if "after" in query:
            after = _int(query["after"])
            chosen = [m for m in items if m.id > after][:limit]
        else:
            chosen = items[-limit:]
        # Discord answers newest first.
        return jresp([payloads.message(m, self.world) for m in reversed(chosen)])

    async def get_message(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        return jresp(payloads.message(self._message(chan, request), self.world))

    async def edit(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        msg = self._message(chan, request)
        if msg.author_id != self.world.bot.id:
            raise HTTPError(403, 50005, "Cannot edit a message authored by another user")
        body, uploads = await read_body(request)
        edit_message(self.world, msg, body, uploads, self.base_url)
        return jresp(payloads.message(msg, self.world))

    async def delete(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        self.world.delete_message(self._message(chan, request))
        return no_content()

    # -- guilds -------------------------------------------------------------------------------
    def _guild_id(self, request: web.Request) -> int:
        gid = _int(request.match_info["guild_id"])
        if gid not in self.world.guilds:
            raise not_found("Guild", 10004)
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        data = payloads.guild(guild, self.world, full=False)
        data["approximate_member_count"] = len(guild.members)
        return jresp(data)

    async def guild_channels(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return jresp(
            [payloads.channel(self.world.channels[c], self.world) for c in guild.channel_ids]
        )

    async def guild_roles(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return jresp([payloads.role(self.world.roles[r]) for r in guild.role_ids])

    async def get_member(self, request: web.Request) -> web.Response:
        gid = self._guild_id(request)
        member = self.world.member(gid, _int(request.match_info["user_id"]))
        if member is None:
            raise not_found("Member", 10007)
        return jresp(payloads.member(member))

    # -- scheduled events ---------------------------------------------------------------------
    def _events(self, request: web.Request, bits: int = 0) -> tuple[int, dict[int, dict[str, Any]]]:
        gid = self._guild_id(request)
        perms = self.world.guilds[gid].bot_permissions
        if bits and not perms & bits and not perms & (1 << 3):
            raise HTTPError(*MISSING_PERMISSIONS)
        return gid, self.world.scheduled_events[gid]

    def _event(self, request: web.Request, bits: int = 0) -> tuple[int, dict[str, Any]]:
        gid, events = self._events(request, bits)
        event = events.get(_int(request.match_info["event_id"]))
        if event is None:
            raise not_found("Guild Scheduled Event", 10070)
        return gid, event

    async def list_events(self, request: web.Request) -> web.Response:
        _, events = self._events(request)
        return jresp(list(events.values()))

    async def get_event(self, request: web.Request) -> web.Response:
        _, event = self._event(request)
        return jresp(event)

    async def create_event(self, request: web.Request) -> web.Response:
        gid, events = self._events(request, MANAGE_EVENTS | CREATE_EVENTS)
        body, _ = await read_body(request)
        event = self._apply_event({}, body, creating=True)
        event.update(
            id=str(self.world.ids.now()),
            guild_id=str(gid),
            creator_id=str(self.world.bot.id),
            creator=payloads.user(self.world.bot),
            status=1,
            entity_id=None,
            user_count=0,
        )
        events[int(event["id"])] = event
        self.dispatch("GUILD_SCHEDULED_EVENT_CREATE", event)
        return jresp(event)

    async def edit_event(self, request: web.Request) -> web.Response:
        _, event = self._event(request, MANAGE_EVENTS)
        body, _ = await read_body(request)
        self._apply_event(event, body, creating=False)
        if "status" in body:
            event["status"] = int(body["status"])
        self.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event)
        return jresp(event)

    async def delete_event(self, request: web.Request) -> web.Response:
        gid, event = self._event(request, MANAGE_EVENTS)
        del self.world.scheduled_events[gid][int(event["id"])]
        self.dispatch("GUILD_SCHEDULED_EVENT_DELETE", event)
        return no_content()

    def _apply_event(
        self, event: dict[str, Any], body: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        fields = (
            "name", "description", "scheduled_start_time", "scheduled_end_time", "privacy_level",
            "entity_type", "entity_metadata", "channel_id", "image", "recurrence_rule",
        )  # fmt: skip
        for key in fields:
            if key in body:
                event[key] = body[key]
        if creating:
            for key in ("name", "scheduled_start_time", "entity_type"):
                if not event.get(key):
                    raise _invalid(f"{key} is required")
            event.setdefault("privacy_level", 2)
            for key in ("description", "scheduled_end_time", "channel_id", "image"):
                event.setdefault(key, None)
            event.setdefault("entity_metadata", None)
        if not 1 <= len(str(event.get("name", ""))) <= 100:
            raise _invalid("name must be 1-100 characters")
        start = _parse_time(event["scheduled_start_time"], "scheduled_start_time")
        if creating and start < utcnow():
            raise _invalid("scheduled_start_time: Cannot schedule event in the past.")
        if int(event["entity_type"]) == 3:
            location = (event.get("entity_metadata") or {}).get("location")
            if not location:
                raise _invalid("entity_metadata.location is required for external events")
            if not event.get("scheduled_end_time"):
                raise _invalid("scheduled_end_time is required for external events")
        end = event.get("scheduled_end_time")
        if end and _parse_time(end, "scheduled_end_time") <= start:
            raise _invalid("scheduled_end_time must be after scheduled_start_time")
        event["scheduled_start_time"] = iso(start)
        return event


def _parse_time(value: Any, key: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise _invalid(f"{key} is not an ISO8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
