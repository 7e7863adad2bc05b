"""REST routes under /api/v10 that a bot uses outside of interactions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .commands import validate_commands
from .events import ScheduledEvents
from .http_util import (
    MISSING_PERMISSIONS,
    HTTPError,
    check_message_body,
    edit_message,
    form_error,
    invalid_form,
    jresp,
    new_message,
    no_content,
    not_found,
    read_body,
)
from .limits import Limits, RuleBook, SlidingCounter
from .models import (
    ATTACH_FILES,
    FLAG_EPHEMERAL,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    Message,
    utcnow,
)
from .roles import MemberRoles
from .world import World


def _invalid(detail: str) -> HTTPError:
    return invalid_form((), "BASE_TYPE_INVALID", detail)


class Rest:
    def __init__(
        self,
        world: World,
        base_url: str,
        application_id: int,
        gateway_url: Callable[[], str],
        dispatch: Callable[[str, Any], bool],
        rules: RuleBook,
        limits: Limits,
    ) -> None:
        self.world = world
        self.rules = rules
        self.limits = limits
        self.events = ScheduledEvents(world, rules, dispatch)
        self.member_roles = MemberRoles(world, dispatch)
        # New DM channels opened recently (re-opening an existing one is not counted).
        self._dm_opens = SlidingCounter()
        # Per message: when its edits happened once it was older than the old-message age.
        self._old_edits: dict[int, SlidingCounter] = {}
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
            *self.member_roles.routes(),
            *self.events.routes(),
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
        if uid not in self.world.dm_channels and self.rules.on("dm_open_pacing"):
            window = self.limits.dm_open_window
            if self._dm_opens.count(window) >= self.limits.dm_opens:
                raise HTTPError(403, 40003, "You are opening direct messages too fast.")
            self._dm_opens.add()
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
        if self.rules.on("command_validation"):
            errors = validate_commands(incoming)
            if errors.tree:
                raise form_error(errors)
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
        body, uploads = await read_body(request, self.world.attachment_size_limit)
        if chan.type == 1:
            recipient = self.world.users.get(chan.recipient_id or 0)
            # Discord: closed DMs, another bot, or no server shared with the bot.
            if (
                recipient is None
                or recipient.bot
                or not recipient.dms_open
                or not self.world.shares_a_guild_with_bot(recipient.id)
            ):
                raise HTTPError(403, 50007, "Cannot send messages to this user")
        else:
            self._require(chan, VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if uploads else 0))
        check_message_body(body, uploads, strict=self.rules.on("message_validation"))
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
        body, uploads = await read_body(request, self.world.attachment_size_limit)
        check_message_body(
            body, uploads, strict=self.rules.on("message_validation"), creating=False
        )
        self._count_old_message_edit(msg)
        edit_message(self.world, msg, body, uploads, self.base_url)
        return jresp(payloads.message(msg, self.world))

    def _count_old_message_edit(self, msg: Message) -> None:
        """Discord caps edits to messages older than an hour: 429 with code 30046. It carries
        no ``Via`` header, so discord.py raises at once instead of sleeping and retrying."""
        limits = self.limits
        if not self.rules.on("old_message_edits"):
            return
        if (utcnow() - msg.created_at).total_seconds() < limits.old_message_age:
            return
        edits = self._old_edits.setdefault(msg.id, SlidingCounter())
        if edits.count(limits.old_message_edit_window) >= limits.old_message_edits:
            retry = edits.retry_after(limits.old_message_edit_window)
            raise HTTPError(
                429,
                30046,
                "Maximum number of edits to messages older than 1 hour reached. Try again later.",
                headers={"Retry-After": str(math.ceil(retry)), "X-RateLimit-Scope": "user"},
            )
        edits.add()

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


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
