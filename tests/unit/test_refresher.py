"""The announcement refresher never loses a mark that arrives while it refreshes."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from cogs.drops.refresher import AnnouncementRefresher
from storage.drops import Drop


class SlowDrops:
    """The drop service's reads, held open until released (so a join can land meanwhile)."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def get_any(self, drop_id: int) -> Drop | None:
        self.reading.set()
        await self.release.wait()
        return None  # nothing to edit: the refresh counts as done


async def test_a_mark_during_a_refresh_stays_for_the_next_pass() -> None:
    drops = SlowDrops()
    refresher = AnnouncementRefresher(cast(Any, None), cast(Any, drops))
    refresher.mark(7)
    flushing = asyncio.create_task(refresher.flush())
    await drops.reading.wait()
    assert not refresher.idle  # a refresh in flight is not idle
    refresher.mark(7)  # a fan joins while the refresh reads the old count
    drops.release.set()
    await flushing
    assert not refresher.idle, "the join's mark was lost: the post would keep the old count"
