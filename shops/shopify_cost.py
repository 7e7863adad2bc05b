"""Shopify's cost-based rate limit, read from each answer's ``extensions.cost`` (not constants)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class CostBucket:
    """Our picture of Shopify's leaky bucket, from the last ``throttleStatus`` it sent."""

    maximum: float | None = None  # None until Shopify's first answer
    available = restore_rate = updated_at = 0.0

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    def observe(self, status: Any) -> None:  # extensions.cost.throttleStatus
        keys = ("maximumAvailable", "currentlyAvailable", "restoreRate")
        try:
            self.maximum, self.available, self.restore_rate = (float(status[k]) for k in keys)
        except (TypeError, KeyError, ValueError):
            return  # no (usable) cost data in this answer: keep the last picture
        self.updated_at = time.monotonic()

    def _projected(self) -> float:
        assert self.maximum is not None
        elapsed = time.monotonic() - self.updated_at
        return min(self.maximum, self.available + elapsed * self.restore_rate)

    async def reserve(self, cost: float | None) -> None:
        """Wait until ``cost`` points are free and count them spent (queued: concurrent calls
        must not all spend the same points) until Shopify's next answer says otherwise."""
        if cost is None or self.maximum is None:
            return  # nothing known yet: the first answer tells us
        async with self._lock:
            cost = min(cost, self.maximum)
            if self.restore_rate > 0 and self._projected() < cost:
                await asyncio.sleep((cost - self._projected()) / self.restore_rate)
            self.available = self._projected() - cost
            self.updated_at = time.monotonic()
