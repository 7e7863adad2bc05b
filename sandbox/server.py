"""The Sandbox: a local Discord-compatible server (REST + gateway) and its Python API."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from . import payloads
from .control import control_routes
from .gateway import Gateway, Session
from .http_util import HTTPError, error, jresp
from .interactions import (
    CommandBuilder,
    InteractionStore,
    SandboxAttachment,
    interaction_payload,
)
from .ratelimit import RateLimiter
from .rest import Rest
from .results import InteractionRecord, InteractionResult
from .world import (
    Channel,
    Guild,
    Member,
    Message,
    Role,
    SandboxError,
    Snowflakes,
    User,
    World,
    utcnow,
)

API_PREFIX = "/api/v10"
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
REQUEST_LOG = 10_000


class Sandbox:
    """A Discord-compatible server on 127.0.0.1 that a real discord.py client talks to.

    Use it from the same event loop as the server: ``await sb.start()``, build the world
    (``create_guild``/``create_member``...), let the bot connect, then ``await sb.slash(...)``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.ids = Snowflakes()
        created = utcnow() - dt.timedelta(days=3 * 365)
        self.application_id = self.ids.at(created)
        bot = User(id=self.application_id, name="dropbell", bot=True)
        self.bot_user_id = bot.id
        self.world = World(self.ids, bot)
        self.owner = self.world.add_user("owner", created)
        self.stats: Counter[str] = Counter()
        self.unimplemented: list[str] = []
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=REQUEST_LOG)
        self._counts: Counter[str] = Counter()
        self.limiter = RateLimiter()
        self.gateway = Gateway(self._ready_payloads, self.stats, lambda: self.gateway_url)
        self._resumes_at_drop = 0
        self._runner: web.AppRunner | None = None
        self._builder: CommandBuilder | None = None
        self._store: InteractionStore | None = None
        self.world.message_listeners.append(self._message_event)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        # Handlers need the final URL (attachment links), known only once bound: set below.
        store = InteractionStore(self.world, "", self.application_id)
        rest = Rest(
            self.world, "", self.application_id, lambda: self.gateway_url, self.gateway.dispatch
        )
        for method, path, handler in rest.routes():
            app.router.add_route(method, API_PREFIX + path, handler)
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        interaction_routes = [
            ("POST", "/interactions/{webhook_id}/{webhook_token}/callback", store.callback),
            ("POST", hook, store.followup),
            ("GET", hook + "/messages/{message_id}", store.get_message),
            ("PATCH", hook + "/messages/{message_id}", store.edit),
            ("DELETE", hook + "/messages/{message_id}", store.delete),
        ]
        for method, path, handler in interaction_routes:
            app.router.add_route(method, API_PREFIX + path, handler)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{file_id}/{filename}", self._serve_file)
        for method, path, handler in control_routes(self):
            app.router.add_route(method, path, handler)
        app.router.add_route("*", "/{tail:.*}", self._unimplemented)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1] if sockets else self._requested_port
        rest.base_url = store.base_url = self.base_url
        self._store = store
        self._builder = CommandBuilder(self.world, self.base_url)

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("sandbox: call await sb.start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def store(self) -> InteractionStore:
        if self._store is None:
            raise RuntimeError("sandbox: call await sb.start() first")
        return self._store

    # -- HTTP plumbing --------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else ""
        if not canonical.startswith(API_PREFIX):
            try:
                return await handler(request)
            except HTTPError as exc:
                return exc.response()
        template = canonical[len(API_PREFIX) :]
        key = f"{request.method} {template}"
        decision = self.limiter.check(key, template, request.match_info)
        response: web.StreamResponse
        if decision is not None and decision.limited:
            self.stats["429"] += 1
            response = jresp(decision.body(), 429, decision.headers)
        else:
            try:
                response = await handler(request)
            except HTTPError as exc:
                response = exc.response()
            if decision is not None:
                response.headers.update(decision.headers)
        self.requests.append((request.method, template, response.status))
        self._counts[key] += 1
        return response

    async def _unimplemented(self, request: web.Request) -> web.Response:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        self.unimplemented.append(f"{request.method} {path}")
        return error(404, 0, f"404: Not Found (the sandbox does not implement {path})")

    async def _serve_file(self, request: web.Request) -> web.Response:
        try:
            stored = self.world.files[int(request.match_info["file_id"])]
        except (KeyError, ValueError):
            return error(404, 10049, "Unknown attachment")
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})

    def _ready_payloads(self, session: Session, resume_url: str) -> list[tuple[str, Any]]:
        guilds = list(self.world.guilds.values())
        ready: dict[str, Any] = {
            "v": 10,
            "user": payloads.client_user(self.world.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": resume_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ["sandbox"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        events: list[tuple[str, Any]] = [("READY", ready)]
        events += [
            ("GUILD_CREATE", payloads.guild(g, self.world, intents=session.intents)) for g in guilds
        ]
        return events

    def _message_event(self, event: str, message: Message) -> None:
        """MESSAGE_* dispatches, only with the intent Discord requires for them."""
        session = self.gateway.current
        bit = GUILD_MESSAGES_INTENT if message.guild_id else DIRECT_MESSAGES_INTENT
        if session is None or not session.intents & bit:
            return
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        else:
            data = payloads.message(message, self.world)
            member = self.world.member(message.guild_id or 0, message.author_id)
            if member is not None:
                data["member"] = payloads.member(member, with_user=False)
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        self.gateway.dispatch(event, data)

    # -- building the world ---------------------------------------------------------------------
    def create_guild(self, name: str) -> Guild:
        guild = self.world.add_guild(name, self.owner)
        self.world.add_channel(guild.id, "general")
        now = utcnow()
        self.world.add_member(guild.id, self.owner, joined_at=now)
        # Like Discord, the bot gets a managed role carrying the permissions it was invited with.
        bot_role = self.world.add_role(guild.id, self.world.bot.name, guild.bot_permissions)
        bot_role.managed = True
        guild.bot_role_id = bot_role.id
        self.world.add_member(guild.id, self.world.bot, joined_at=now, roles=[bot_role.id])
        session = self.gateway.current
        intents = session.intents if session is not None else 0
        self.gateway.dispatch("GUILD_CREATE", payloads.guild(guild, self.world, intents=intents))
        return guild

    def create_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        chan = self.world.add_channel(guild_id, name, topic=topic)
        self.gateway.dispatch("CHANNEL_CREATE", payloads.channel(chan, self.world))
        return chan

    def create_role(
        self, guild_id: int, name: str, permissions: int = 0, *, mentionable: bool = False
    ) -> Role:
        role = self.world.add_role(guild_id, name, permissions, mentionable=mentionable)
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": payloads.role(role)}
        )
        return role

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

    def set_event_user_count(self, guild_id: int, event_id: int, count: int) -> None:
        """Members who marked themselves interested (Discord reports it as user_count)."""
        self.world.scheduled_events[guild_id][event_id]["user_count"] = count

    # -- rate limits ----------------------------------------------------------------------------
    def rate_limit(self, route: str, limit: int, per: float) -> None:
        """Limit e.g. ``"POST /channels/{channel_id}/messages"`` per major parameter."""
        self.limiter.set_route(route, limit, per)

    def global_rate_limit(self, per_second: int | None = 50) -> None:
        self.limiter.set_global(per_second)

    # -- gateway --------------------------------------------------------------------------------
    async def wait_for_bot(self, timeout: float = 10.0) -> None:
        def ready() -> bool:
            session = self.gateway.current
            return session is not None and session.conn is not None and session.conn.queue.empty()

        await self.gateway.wait_until(ready, timeout, "a bot to IDENTIFY")

    async def drop_gateway(self, code: int | None = 4000) -> None:
        """Close the bot's websocket (4000: discord.py RESUMEs); ``None`` cuts TCP abruptly."""
        self._resumes_at_drop = self.stats["resumes"]
        await self.gateway.drop(code)

    async def wait_for_resume(self, timeout: float = 10.0) -> None:
        def resumed() -> bool:
            session = self.gateway.current
            return self.stats["resumes"] > self._resumes_at_drop and bool(session and session.conn)

        await self.gateway.wait_until(resumed, timeout, "the bot to RESUME")

    @property
    def interaction_deadline(self) -> float:
        """Seconds a bot has to answer an interaction (3 on Discord); later -> 10062."""
        return self.store.deadline

    @interaction_deadline.setter
    def interaction_deadline(self, seconds: float) -> None:
        self.store.deadline = seconds

    # -- interactions ---------------------------------------------------------------------------
    def _member_and_channel(
        self, member: Member, channel: Channel | int | None
    ) -> tuple[Member, Channel]:
        guild = self.world.guild(member.guild_id)
        if channel is None:
            chan = self.world.channels[guild.channel_ids[0]]
        else:
            found = self.world.channels.get(channel if isinstance(channel, int) else channel.id)
            if found is None:
                raise SandboxError(f"no channel {channel!r}")
            chan = found
        if chan.type == 0 and chan.guild_id != guild.id:
            raise SandboxError(f"channel {chan.id} is not in the member's guild")
        return member, chan

    def _dispatch_interaction(
        self,
        type_: int,
        member: Member,
        chan: Channel,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> InteractionRecord:
        store = self.store
        iid = self.ids.now()
        rec = InteractionRecord(
            iid, store.new_token(iid), type_, member.guild_id, chan.id, member.id, message
        )
        payload = interaction_payload(self.world, self.application_id, rec, member, chan, data)
        if message is not None:
            payload["message"] = payloads.message(message, self.world)
        store.add(rec)
        rec.dispatched_at = time.perf_counter()
        if not self.gateway.dispatch("INTERACTION_CREATE", payload):
            raise SandboxError("no bot has identified with the sandbox yet (await wait_for_bot)")
        self.stats["interactions"] += 1
        return rec

    async def _answer(self, rec: InteractionRecord, timeout: float, what: str) -> InteractionResult:
        try:
            await asyncio.wait_for(rec.waiter, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"sandbox: the bot did not answer {what} within {timeout}s "
                f"(no POST /interactions/{rec.id}/<token>/callback arrived)"
            ) from None
        return InteractionResult(rec)

    def _builder_or_fail(self) -> CommandBuilder:
        if self._builder is None:
            raise RuntimeError("sandbox: call await sb.start() first")
        return self._builder

    async def slash(
        self,
        member: Member,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel: Channel | int | None = None,
        timeout: float = 5.0,
    ) -> InteractionResult:
        member, chan = self._member_and_channel(member, channel)
        data = self._builder_or_fail().build(member.guild_id, command, options or {})
        rec = self._dispatch_interaction(2, member, chan, data)
        return await self._answer(rec, timeout, f"/{command}")

    async def autocomplete(
        self,
        member: Member,
        command: str,
        options: dict[str, Any],
        *,
        focused: str,
        channel: Channel | int | None = None,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        member, chan = self._member_and_channel(member, channel)
        data = self._builder_or_fail().build(member.guild_id, command, options, focused=focused)
        rec = self._dispatch_interaction(4, member, chan, data)
        result = await self._answer(rec, timeout, f"autocomplete of /{command} {focused}")
        return result.choices

    async def click(
        self,
        member: Member,
        message: Message | int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        timeout: float = 5.0,
    ) -> InteractionResult:
        msg_id = message if isinstance(message, int) else message.id
        msg = self.world.messages_by_id.get(msg_id)
        if msg is None:
            raise SandboxError(f"no message {msg_id}")
        if msg.author_id != self.bot_user_id:
            raise SandboxError("only components on the bot's own messages can be clicked")
        components = msg.custom_ids()
        if custom_id not in components:
            raise SandboxError(
                f"message {msg.id} has no component {custom_id!r} (has: {', '.join(components)})"
            )
        member, chan = self._member_and_channel(member, msg.channel_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": components[custom_id]}
        if values is not None or components[custom_id] in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        rec = self._dispatch_interaction(3, member, chan, data, msg)
        return await self._answer(rec, timeout, f"the click on {custom_id!r}")

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

    def request_counts(self) -> Counter[str]:
        """Requests the bot made, per ``"METHOD /route/{template}"``."""
        return Counter(self._counts)

    def reset_request_counts(self) -> None:
        self._counts.clear()
        self.requests.clear()

    def assert_no_unimplemented(self) -> None:
        if self.unimplemented:
            listed = "\n  ".join(sorted(set(self.unimplemented)))
            raise AssertionError(
                f"the bot called routes the sandbox does not implement:\n  {listed}"
            )
