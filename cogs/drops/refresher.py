"""Keeping a drop's live posts fresh: its announcement (the waitlist count) and, once it opens,
its opening post (Get my link and the real remaining stock).

Both follow whoever changed the drop or its line (a join, an edit, the opening, a claim) through
the shared coalesced refresher (:mod:`cogs._post_refresher`), one per kind of post; a change of
the drop itself is urgent, so it reaches even an hour-old post at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord.ext import commands

from cogs._post_refresher import PostRefresher, Rendered
from cogs.drops.announcement import render_embed, render_view
from services import metrics
from services.drops.service import DropService
from storage.drops import Drop
from storage.states import DropStatus

# (channel id, message id, text as it should read now) of a live drop's opening post.
OpeningPost = Callable[[Drop], Awaitable[tuple[int, int, str] | None]]


class AnnouncementRefresher:
    def __init__(
        self,
        bot: commands.Bot,
        service: DropService,
        *,
        opening_post: OpeningPost | None = None,
        **intervals: Any,
    ) -> None:
        self.service = service
        self.opening_post = opening_post
        edited = metrics.ANNOUNCEMENT_EDITS.inc
        self.announcements = PostRefresher(
            bot, self._announcement, name="announcement", on_edit=edited, **intervals
        )
        self.openings = PostRefresher(
            bot, self._opening, name="opening", on_edit=edited, **intervals
        )
        self._unsubscribe: list[Callable[[], None]] = []

    def mark(self, drop_id: int, *, drop_changed: bool = False) -> None:
        self.announcements.mark(drop_id, urgent=drop_changed)
        self.openings.mark(drop_id, urgent=drop_changed)

    def posted(self, drop: Drop, message: discord.Message, waitlist_count: int = 0) -> None:
        """The announcement as it went out, so an edit showing the same is never sent."""
        shown = Rendered(
            message.channel.id,
            message.id,
            render_embed(drop, waitlist_count),
            render_view(drop),
        )
        self.announcements.posted(drop.id, shown)

    @property
    def idle(self) -> bool:
        """Nothing waits to be edited (nor is being edited)."""
        return self.announcements.idle and self.openings.idle

    async def _drop_changed(self, drop_id: int) -> None:
        self.mark(drop_id, drop_changed=True)

    def start(self) -> None:
        events = self.service.events
        self._unsubscribe = [
            events.on_drop_changed(self._drop_changed),
            events.on_waitlist_changed(self.mark),
        ]
        self.announcements.start()
        self.openings.start()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        # Whatever may still be edited gets its last edit so the posts end up right.
        await self.announcements.stop()
        await self.openings.stop()

    async def flush(self) -> None:
        await self.announcements.flush()
        await self.openings.flush()

    async def _announcement(self, drop_id: int) -> Rendered | None:
        drop = await self.service.get_any(drop_id)
        if drop is None or drop.channel_id is None or drop.message_id is None:
            return None
        count = await self.service.waitlist_count(drop.id)
        return Rendered(
            drop.channel_id, drop.message_id, render_embed(drop, count), render_view(drop)
        )

    async def _opening(self, drop_id: int) -> Rendered | None:
        if self.opening_post is None:
            return None
        drop = await self.service.get_any(drop_id)
        if drop is None or drop.status != DropStatus.LIVE or not drop.product:
            return None
        found = await self.opening_post(drop)
        if found is None:
            return None
        channel_id, message_id, content = found
        return Rendered(channel_id, message_id, content=content)
