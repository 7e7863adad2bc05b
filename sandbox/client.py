"""Pointing a real discord.py client at a Discord-compatible server (the sandbox or another).

discord.py builds every REST URL (interaction callbacks included) from ``Route.BASE`` and a
plain ``Bot`` connects straight to ``DiscordWebSocket.DEFAULT_GATEWAY``; both are class
attributes, so they are process-wide: ``point_discord_at`` returns a callable that restores them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def point_discord_at(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Make discord.py use ``api_base`` (e.g. http://127.0.0.1:PORT/api/v10) and ``gateway_url``.

    Do not call ``discord.http._set_api_version`` afterwards: it resets ``Route.BASE``.
    """
    route_cls: Any = discord.http.Route
    ws_cls: Any = discord.gateway.DiscordWebSocket
    old_base, old_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
    route_cls.BASE = api_base.rstrip("/")
    ws_cls.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        route_cls.BASE = old_base
        ws_cls.DEFAULT_GATEWAY = old_gateway

    return restore


class LoopbackResolver(AbstractResolver):
    """Resolves only loopback names; anything else fails before a packet leaves the machine."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in LOOPBACK_HOSTS:
            raise OSError(f"sandbox: refusing to resolve {host!r} (loopback only)")
        address = "::1" if host == "::1" else "127.0.0.1"
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if address == "::1" else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class LoopbackConnector(aiohttp.TCPConnector):
    """A connector that refuses every host but loopback, IP literals included."""

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        host = req.url.host
        if host not in LOOPBACK_HOSTS:
            raise aiohttp.ClientConnectionError(f"sandbox: refusing to connect to {host!r}")
        return await super().connect(req, traces, timeout)


def loopback_connector() -> aiohttp.TCPConnector:
    """Pass as ``connector=`` to a discord.py Client so it can reach 127.0.0.1 only.

    ``limit=0`` like discord.py's own default: no cap on concurrent connections.
    """
    return LoopbackConnector(limit=0, resolver=LoopbackResolver())
