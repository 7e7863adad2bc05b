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
REPLAY_BUFFER = 20_000

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


class Session:
    def __init__(self, session_id: str, intents: int, shard: list[int] | None) -> None:
        self.id = session_id
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=REPLAY_BUFFER)
        self.conn: Connection | None = None

    def dispatch(self, event: str, data: Any) -> None:
        self.seq += 1
        text = _dumps({"op": 0, "s": self.seq, "t": event, "d": data})
        self.buffer.append((self.seq, text))
        if self.conn is not None:
            self.conn.send(text)


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
        """Send to the newest identified session; False if no bot ever identified."""
        session = self.current
        if session is None:
            return False
        session.dispatch(event, data)
        return True

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
                {"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}
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
                self._handle_op(conn, payload)
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
            conn.queue.put_nowait(None)
            self._notify()
        return ws

    def _handle_op(self, conn: Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            conn.send('{"op":11,"s":null,"t":null,"d":null}')
        elif op == 2:
            self._identify(conn, data or {})
        elif op == 6:
            self._resume(conn, data or {})
        elif op == 8:
            self._request_members(conn, data or {})
        # op 3 (presence), op 4 (voice) and the rest are accepted and ignored.

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

    def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
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
