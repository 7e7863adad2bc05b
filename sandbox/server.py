"""The Sandbox: a local Discord-compatible server (REST + gateway) and its Python API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import payloads
from .builder import CommandBuilder
from .building import WorldBuildingMixin
from .control import control_routes
from .gateway import PRIVILEGED_INTENTS, Gateway, Session, covers
from .http_util import HTTPError, error, jresp
from .inject import InjectionMixin
from .interactions import InteractionStore
from .limits import RULES, InvalidRequests, Limits, RuleBook
from .models import Message, Snowflakes, User, utcnow
from .ratelimit import GLOBAL_EXEMPT_PREFIXES, RateLimiter
from .rest import Rest
from .roles import MEMBER_ROLE_ROUTE
from .world import World

API_PREFIX = "/api/v10"
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
REQUEST_LOG = 10_000
CHANNEL_SEND_ROUTE = "POST /channels/{channel_id}/messages"
MEMBER_ROLE_ROUTES = tuple(f"{m} {MEMBER_ROLE_ROUTE}" for m in ("PUT", "DELETE"))
EVENT_TICK = 0.2  # seconds between checks for scheduled events whose time has come


SEED_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class Sandbox(WorldBuildingMixin, InjectionMixin):
    """A Discord-compatible server on 127.0.0.1 that a real discord.py client talks to.

    Use it from the same event loop as the server: ``await sb.start()``, build the world
    (``create_guild``/``create_member``...), let the bot connect, then ``await sb.slash(...)``.

    Discord's rules (``sandbox.limits.RULES``) are all enforced unless relaxed by name with a
    reason: ``Sandbox(relaxed={"dm_open_pacing": "why"})`` or ``sb.relax(rule, reason=...)``.
    The numbers behind them are on ``sb.limits``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        relaxed: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        # A seed fixes the ids of everything built before ``ids.release()`` (see Snowflakes).
        self.ids = Snowflakes(None if seed is None else SEED_EPOCH + dt.timedelta(seconds=seed))
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
        self.limits = limits or Limits()
        self.rules = RuleBook()
        self.limiter = RateLimiter()
        self.invalid = InvalidRequests(self.limits.invalid_request_window)
        self.gateway = Gateway(self._ready_payloads, self.stats, lambda: self.gateway_url)
        self.gateway.enforce_privileged = lambda: self.rules.on("privileged_intents")
        self._global_override: int | None = None
        self._ticker: asyncio.Task[None] | None = None
        for rule, reason in (relaxed or {}).items():
            self.rules.relax(rule, reason=reason)
        self._apply_rate_rules()
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
        store = InteractionStore(self.world, "", self.application_id, self.rules, self.limits)
        rest = Rest(
            self.world, "", self.application_id, lambda: self.gateway_url,
            self.gateway.dispatch, self.rules, self.limits,
        )  # fmt: skip
        self._rest = rest
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
        self._builder = CommandBuilder(self.world, self.base_url, self.rules, self.limits)
        self._ticker = asyncio.create_task(self._tick_events(), name="sandbox-event-ticker")

    async def _tick_events(self) -> None:
        while True:
            await asyncio.sleep(EVENT_TICK)
            self._rest.events.advance()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
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
        code = 0
        response: web.StreamResponse
        if not self._authorized(request, template):
            response = error(401, 0, "401: Unauthorized")
        elif (decision := self.limiter.check(key, template, request.match_info)) is not None and (
            decision.limited
        ):
            self.stats["429"] += 1
            response = jresp(decision.body(), 429, decision.headers)
        else:
            try:
                response = await handler(request)
            except HTTPError as exc:
                response = exc.response()
                code = exc.code
            if decision is not None:
                response.headers.update(decision.headers)
        self.invalid.record(response.status, code, response.headers.get("X-RateLimit-Scope"))
        self.requests.append((request.method, template, response.status))
        self._counts[key] += 1
        return response

    def _authorized(self, request: web.Request, template: str) -> bool:
        """With ``sb.valid_tokens`` set, REST needs ``Authorization: Bot <token>``; interaction
        callbacks and followups carry their own token in the URL instead, as on Discord."""
        tokens = self.gateway.valid_tokens
        if tokens is None or template.startswith(GLOBAL_EXEMPT_PREFIXES):
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bot" and token in tokens

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
        if stored.expires_at is not None and time.monotonic() >= stored.expires_at:
            # A signed CDN URL past its expiry: Discord's CDN answers 404.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})

    def _ready_payloads(self, session: Session, resume_url: str) -> list[tuple[str, Any]]:
        # Only the servers of the session's shard, as Discord does.
        guilds = [g for g in self.world.guilds.values() if covers(session.shard, g.id)]
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
        session = self.gateway.session_for(message.guild_id)
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

    # -- Discord's rules ------------------------------------------------------------------------
    def relax(self, rule: str, *, reason: str) -> None:
        """Stop enforcing one of ``sandbox.limits.RULES``; the reason is kept in ``sb.relaxed``."""
        self.rules.relax(rule, reason=reason)
        self._apply_rate_rules()

    def enforce(self, rule: str) -> None:
        self.rules.enforce(rule)
        self._apply_rate_rules()

    @property
    def relaxed(self) -> dict[str, str]:
        """Relaxed rules and why (every other rule in ``RULES`` is enforced)."""
        return dict(self.rules.relaxed)

    @staticmethod
    def rule_names() -> list[str]:
        return sorted(RULES)

    def _apply_rate_rules(self) -> None:
        limits = self.limits
        if self._global_override is not None:
            self.limiter.set_global(self._global_override)
        elif self.rules.on("global_rate_limit"):
            self.limiter.set_global(limits.global_per_second)
        else:
            self.limiter.set_global(None)
        if self.rules.on("channel_send_limit"):
            if CHANNEL_SEND_ROUTE not in self.limiter.routes:
                self.rate_limit(
                    CHANNEL_SEND_ROUTE, limits.channel_sends, limits.channel_send_window
                )
        else:
            self.limiter.remove_route(CHANNEL_SEND_ROUTE)
        for route in MEMBER_ROLE_ROUTES:
            if not self.rules.on("member_role_limit"):
                self.limiter.remove_route(route)
            elif route not in self.limiter.routes:
                self.limiter.set_route(
                    route,
                    limits.member_role_edits,
                    limits.member_role_window,
                    bucket="member roles",
                )

    def rate_limit(self, route: str, limit: int, per: float) -> None:
        """Limit e.g. ``"POST /channels/{channel_id}/messages"`` per major parameter."""
        self.limiter.set_route(route, limit, per)

    def global_rate_limit(self, per_second: int | None = 50) -> None:
        """Set the global limit to ``per_second``; ``None`` goes back to the rule's default
        (Discord's 50/s unless ``global_rate_limit`` is relaxed)."""
        self._global_override = per_second
        self._apply_rate_rules()

    def invalid_requests(self) -> int:
        """401, 403 and 429 answers within the last 10 minutes (Discord bans a bot at 10,000)."""
        return self.invalid.count()

    def invalid_request_breakdown(self) -> Counter[str]:
        """The same, by ``"status/code"``: ``{"403/50007": 3, "403/40003": 40, "429/0": 2}``."""
        return self.invalid.breakdown()

    def advance_scheduled_events(self) -> int:
        """Move external events whose start or end has passed now (a ticker also does it)."""
        return self._rest.events.advance()

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

    def accept_tokens(self, *tokens: str) -> None:
        """Only these bot tokens log in (REST 401, gateway close 4004); none: any token."""
        self.gateway.valid_tokens = set(tokens) if tokens else None

    def grant_privileged_intents(
        self, *, members: bool = False, presences: bool = False, message_content: bool = False
    ) -> None:
        """The application's privileged intent switches (all off, as for a new application)."""
        names = {"GUILD_MEMBERS": members, "GUILD_PRESENCES": presences,
                 "MESSAGE_CONTENT": message_content}  # fmt: skip
        self.gateway.granted_privileged = sum(
            bit for bit, name in PRIVILEGED_INTENTS.items() if names[name]
        )

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py closes and RESUMEs."""
        self._resumes_at_drop = self.stats["resumes"]
        await self.gateway.send_op(7, None)

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION: not resumable -> the bot IDENTIFYs again."""
        self._resumes_at_drop = self.stats["resumes"]
        await self.gateway.send_op(9, resumable)

    @property
    def interaction_deadline(self) -> float:
        """Seconds a bot has to answer an interaction (3 on Discord); later -> 10062."""
        return self.store.deadline

    @interaction_deadline.setter
    def interaction_deadline(self, seconds: float) -> None:
        self.store.deadline = seconds

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
