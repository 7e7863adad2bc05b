"""Discord-like rate limits: per-route buckets keyed by major parameter, and a global limit.

Headers follow Discord: ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`` on every
response of a limited route, and a 429 that carries ``Via`` (discord.py only retries a 429
with ``Via``; without it the client assumes a Cloudflare ban).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id")

# Interaction responses and followups do not count against the global limit (like Discord).
GLOBAL_EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")


@dataclass
class RouteLimit:
    limit: int
    per: float
    bucket_hash: str
    bucket_key: str  # routes with the same key share their windows (one Discord bucket)


@dataclass
class _Window:
    reset_at: float  # time.monotonic() when the window ends
    used: int = 0


@dataclass
class Decision:
    """What the middleware must do: headers to add, and whether to answer 429 instead."""

    headers: dict[str, str] = field(default_factory=dict)
    limited: bool = False
    is_global: bool = False
    retry_after: float = 0.0

    def body(self) -> dict[str, Any]:
        return {
            "message": "You are being rate limited.",
            "retry_after": round(self.retry_after, 3),
            "global": self.is_global,
            "code": 0,
        }


def _split_key(route_key: str) -> tuple[str, str]:
    method, _, path = route_key.partition(" ")
    return method.upper(), path


class RateLimiter:
    def __init__(self) -> None:
        self.routes: dict[str, RouteLimit] = {}
        self._windows: dict[tuple[str, tuple[str, ...]], _Window] = {}
        self.global_per_second: int | None = None
        self._global = _Window(reset_at=0.0)

    def set_route(
        self, route_key: str, limit: int, per: float, *, bucket: str | None = None
    ) -> None:
        """Limit a route; routes given the same ``bucket`` name share one bucket."""
        method, path = _split_key(route_key)
        key = f"{method} {path}"
        shared = bucket or key
        digest = hashlib.sha1(shared.encode()).hexdigest()[:16]
        self.routes[key] = RouteLimit(limit=limit, per=per, bucket_hash=digest, bucket_key=shared)
        # Forget windows of that bucket so a new limit starts clean.
        for window_key in [k for k in self._windows if k[0] == shared]:
            del self._windows[window_key]

    def remove_route(self, route_key: str) -> None:
        method, path = _split_key(route_key)
        key = f"{method} {path}"
        removed = self.routes.pop(key, None)
        shared = removed.bucket_key if removed is not None else key
        for window_key in [k for k in self._windows if k[0] == shared]:
            del self._windows[window_key]

    def set_global(self, per_second: int | None) -> None:
        self.global_per_second = per_second
        self._global = _Window(reset_at=0.0)

    def check(self, route_key: str, path_template: str, params: Any) -> Decision | None:
        """Account for one request. ``None`` means: not limited at all, add nothing."""
        decision: Decision | None = None
        now = time.monotonic()
        if self.global_per_second is not None and not path_template.startswith(
            GLOBAL_EXEMPT_PREFIXES
        ):
            window = self._global
            if now >= window.reset_at:
                window.reset_at = now + 1.0
                window.used = 0
            if window.used >= self.global_per_second:
                retry = max(window.reset_at - now, 0.001)
                return Decision(
                    headers={
                        "Via": "1.1 google",
                        "Retry-After": str(math.ceil(retry)),
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                    },
                    limited=True,
                    is_global=True,
                    retry_after=retry,
                )
            window.used += 1

        limit = self.routes.get(route_key)
        if limit is None:
            return decision
        major = tuple(str(params.get(p, "")) for p in MAJOR_PARAMETERS if p in params)
        key = (limit.bucket_key, major)
        window_or_none = self._windows.get(key)
        if window_or_none is None or now >= window_or_none.reset_at:
            window_or_none = self._windows[key] = _Window(reset_at=now + limit.per)
        window = window_or_none
        reset_after = max(window.reset_at - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(limit.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": limit.bucket_hash,
        }
        if window.used >= limit.limit:
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "Via": "1.1 google",
                    "Retry-After": str(math.ceil(reset_after)),
                    "X-RateLimit-Scope": "user",
                }
            )
            return Decision(headers=headers, limited=True, retry_after=max(reset_after, 0.001))
        window.used += 1
        headers["X-RateLimit-Remaining"] = str(limit.limit - window.used)
        return Decision(headers=headers)
