"""The gateway websocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME replay.

Frames are plain JSON text (discord.py only decompresses binary frames). Every dispatch of a
session is kept in a bounded buffer so a RESUME can replay what the client missed, which is
how interactions sent while the bot is disconnected reach it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_MS = 41250
# discord.py's keep-alive thread stamps a heartbeat's send time only after the send completed;
# an ACK that arrives before that stamp is measured against the previous heartbeat, and
# ``bot.latency`` reads a whole interval (41 s). Real Discord is never that fast: answer after
# a small, realistic round trip instead.
HEARTBEAT_ACK_DELAY = 0.02
REPLAY_BUFFER = 20_000
PRIVILEGED_INTENTS = {
    1 << 1: "GUILD_MEMBERS",
    1 << 8: "GUILD_PRESENCES",
    1 << 15: "MESSAGE_CONTENT",
}
ALL_PRIVILEGED = sum(PRIVILEGED_INTENTS)
GUILDS, GUILD_MEMBERS, GUILD_SCHEDULED_EVENTS = 1 << 0, 1 << 1, 1 << 16
# Dispatches Discord sends only to a session that asked for the intent (MESSAGE_* are gated by
# the server, which knows whether a message is in a guild or a DM).
EVENT_INTENTS = {
    "GUILD_CREATE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "GUILD_SCHEDULED_EVENT_CREATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": GUILD_SCHEDULED_EVENTS,
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Connection:
    """One websocket; a single writer task keeps frames in sequence order."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.session: Session | None = None
        self.writer = asyncio.create_task(self._write(), name="sandbox-gateway-writer")

    def send(self, text: str) -> None:
        self.queue.put_nowait(text)

    async def _write(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                if text is None:
                    return
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the client went away; the session buffer keeps what it missed


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule: a server belongs to shard ``(guild_id >> 22) % shard_count``."""
    return (guild_id >> 22) % shard_count


def covers(shard: list[int] | None, guild_id: int | None) -> bool:
    """Whether a session identified with ``shard`` ([id, count], or None: unsharded) receives a
    server's events; events of no server (DMs) go to shard 0."""
    if shard is None:
        return True
    shard_id, count = shard
    if guild_id is None:
        return shard_id == 0
    return shard_of(guild_id, count) == shard_id


# Events that name their server by "id" rather than "guild_id".
GUILD_EVENTS = ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")


def guild_of(event: str, data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    value = data.get("id") if event in GUILD_EVENTS else data.get("guild_id")
    return int(value) if value is not None else None


class Session:
    def __init__(self, session_id: str, intents: int, shard: list[int] | None) -> None:
        self.id = session_id
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=REPLAY_BUFFER)
        self.conn: Connection | None = None

    def dispatch(self, event: str, data: Any) -> None:
        needed = EVENT_INTENTS.get(event, 0)
        if needed and not self.intents & needed:
            return
        self.seq += 1
        text = _dumps({"op": 0, "s": self.seq, "t": event, "d": data})
        self.buffer.append((self.seq, text))
        if self.conn is not None:
            self.conn.send(text)


def _valid_shard(shard: Any) -> bool:
    """[shard_id, shard_count] with 0 <= shard_id < shard_count, as Discord requires."""
    if not isinstance(shard, list) or len(shard) != 2:
        return False
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shard):
        return False
    return 0 <= shard[0] < shard[1]


class Gateway:
    """Sessions and the websocket handler. ``ready_payloads`` builds READY + GUILD_CREATEs."""

    def __init__(
        self,
        ready_payloads: Callable[[Session, str], list[tuple[str, Any]]],
        stats: dict[str, int],
        resume_url: Callable[[], str],
    ) -> None:
        self._ready_payloads = ready_payloads
        self._resume_url = resume_url
        self.stats = stats
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.connections: set[Connection] = set()
        self._changed = asyncio.Event()
        self.on_identify: list[Callable[[Session], None]] = []
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS
        self.heartbeat_ack_delay = HEARTBEAT_ACK_DELAY
        # None: any token is accepted. Otherwise IDENTIFY with another token closes with 4004.
        self.valid_tokens: set[str] | None = None
        # Privileged intents enabled "in the developer portal"; asking for others -> 4014.
        self.granted_privileged = 0
        self.enforce_privileged: Callable[[], bool] = lambda: True

    # -- waiting ----------------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"sandbox: timed out after {timeout}s waiting for {what}")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # -- dispatch ---------------------------------------------------------------------------
    def dispatch(self, event: str, data: Any) -> bool:
        """Send to the newest identified session whose shard has the event's server (the
        newest session of all when unsharded); False if none did."""
        session = self.session_for(guild_of(event, data))
        if session is None:
            return False
        session.dispatch(event, data)
        return True

    def session_for(self, guild_id: int | None) -> Session | None:
        current = self.current
        if current is None or covers(current.shard, guild_id):
            return current
        for session in reversed(self.sessions.values()):
            if covers(session.shard, guild_id):
                return session
        return None

    async def drop(self, code: int | None = 4000) -> None:
        """Close the current bot's socket with ``code``, or cut the TCP connection (None)."""
        session = self.current
        if session is None or session.conn is None:
            raise RuntimeError("sandbox: no connected bot to drop")
        conn = session.conn
        session.conn = None
        conn.session = None
        self.stats["drops"] += 1
        conn.queue.put_nowait(None)
        if code is None and conn.transport is not None:
            conn.transport.abort()  # no close frame: the client sees an abnormal closure (1006)
            return
        await conn.ws.close(code=code or 4000, message=b"sandbox dropped the connection")

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"sandbox shutting down")

    # -- the websocket handler --------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws, request.transport)
        self.connections.add(conn)
        self.stats["connections"] += 1
        conn.send(
            _dumps(
                {
                    "op": 10,
                    "s": None,
                    "t": None,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                }
            )
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await ws.close(code=4002, message=b"binary frames are not decoded")
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"decode error")
                    break
                await self._handle_op(conn, payload)
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
            conn.queue.put_nowait(None)
            self._notify()
        return ws

    async def _handle_op(self, conn: Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            ack = '{"op":11,"s":null,"t":null,"d":null}'
            asyncio.get_running_loop().call_later(self.heartbeat_ack_delay, conn.send, ack)
        elif op == 2:
            refusal = self._refuse_identify(data or {})
            if refusal is not None:
                code, reason = refusal
                self.stats[f"close_{code}"] += 1
                conn.queue.put_nowait(None)
                await conn.ws.close(code=code, message=reason.encode())
                return
            self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            self._request_members(conn, data or {})
        # op 3 (presence), op 4 (voice) and the rest are accepted and ignored.

    def _refuse_identify(self, data: dict[str, Any]) -> tuple[int, str] | None:
        if self.valid_tokens is not None and str(data.get("token")) not in self.valid_tokens:
            return 4004, "Authentication failed."
        shard = data.get("shard")
        if shard is not None and not _valid_shard(shard):
            return 4010, "Invalid shard."
        asked = int(data.get("intents") or 0) & ALL_PRIVILEGED
        if self.enforce_privileged() and asked & ~self.granted_privileged:
            return 4014, "Disallowed intent(s)."
        return None

    async def send_op(self, op: int, data: Any) -> None:
        """Send a non-dispatch opcode (7 RECONNECT, 9 INVALID_SESSION) to the current bot."""
        session = self.current
        if session is None or session.conn is None:
            raise RuntimeError("sandbox: no connected bot")
        session.conn.send(_dumps({"op": op, "s": None, "t": None, "d": data}))
        if op == 9 and not data:
            # A non-resumable invalid session: the bot must IDENTIFY again.
            self.sessions.pop(session.id, None)

    def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0), data.get("shard"))
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        self.current = session
        self.stats["identifies"] += 1
        for event, payload in self._ready_payloads(session, self._resume_url()):
            session.dispatch(event, payload)
        for hook in self.on_identify:
            hook(session)
        self._notify()

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        if self.valid_tokens is not None and str(data.get("token")) not in self.valid_tokens:
            # e.g. the token was reset in the developer portal while the bot was connected
            self.stats["close_4004"] += 1
            conn.queue.put_nowait(None)
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None:
            conn.send('{"op":9,"s":null,"t":null,"d":false}')
            return
        old = session.conn
        if old is not None and old is not conn:
            old.session = None
            old.queue.put_nowait(None)
        session.conn = conn
        conn.session = session
        seq = int(data.get("seq") or 0)
        for s, text in session.buffer:
            if s > seq:
                conn.send(text)
        session.dispatch("RESUMED", {"_trace": ["sandbox"]})
        self.stats["resumes"] += 1
        self._notify()

    def _request_members(self, conn: Connection, data: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            return
        for event, payload in self._ready_payloads(session, ""):
            if event != "GUILD_CREATE" or payload["id"] != str(data.get("guild_id")):
                continue
            chunk = {
                "guild_id": payload["id"],
                "members": payload["members"],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
