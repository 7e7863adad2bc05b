"""Point discord.py at Discord or at any Discord-compatible server (such as the sandbox).

discord.py 2.7 builds every REST URL from ``Route.BASE`` and a plain ``Bot`` connects straight
to ``DiscordWebSocket.DEFAULT_GATEWAY``; both are class attributes, so this is process-wide and
done once at start-up, never from a cog.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import discord.gateway
import discord.http
import yarl

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def point_discord_at(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Send discord.py's REST and gateway traffic to these URLs; returns a function undoing it."""
    previous = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous

    return restore


class LoopbackOnlyResolver(aiohttp.abc.AbstractResolver):
    """Resolves loopback names only, so a test or benchmark can never reach the internet."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        if host not in LOOPBACK_HOSTS:
            raise OSError(f"refusing to resolve {host!r}: only loopback traffic is allowed here")
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


class LoopbackOnlyConnector(aiohttp.TCPConnector):
    """Refuses every host but loopback, IP literals included (they skip the resolver)."""

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        if req.url.host not in LOOPBACK_HOSTS:
            raise aiohttp.ClientConnectionError(f"refusing to connect to {req.url.host!r}")
        return await super().connect(req, traces, timeout)


def loopback_connector() -> aiohttp.TCPConnector:
    """For ``connector=`` of a discord.py client: it can reach 127.0.0.1 and nothing else.

    ``limit=0`` like discord.py's own default: no cap on concurrent connections.
    """
    return LoopbackOnlyConnector(limit=0, resolver=LoopbackOnlyResolver())
