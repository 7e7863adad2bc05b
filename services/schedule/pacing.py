"""Evenly spaced slots, so our own requests stay under a rate instead of meeting its 429s."""

from __future__ import annotations

import asyncio


class Pacer:
    """Hands out evenly spaced send slots: at most ``rate`` per second, never bunched."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
