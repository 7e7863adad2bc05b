"""Client-side pacing: stay under a shop's per-endpoint rate limit instead of hitting it."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``rate`` requests per second with bursts of up to ``burst``; callers queue in order.

    ``pause(seconds)`` holds everyone back after the shop answered 429 with ``Retry-After``:
    retrying sooner would only earn another 429.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("A rate limit must be above 0 requests per second.")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        # The lock makes waiters take tokens first come, first served.
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                wait = max(self._not_before - now, (1.0 - self._tokens) / self.rate)
                if wait <= 0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        now = time.monotonic()
        self._not_before = max(self._not_before, now + seconds)
        # After the pause the shop's own bucket starts refilling, so ours starts empty too.
        self._tokens = min(self._tokens, 0.0)
