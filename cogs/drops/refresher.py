"""Keeping each drop announcement's live waitlist count fresh, cheaply and within Discord's caps.

Joins never edit the post themselves: they mark the drop dirty, and one background loop edits
each dirty announcement when it may. A burst of a thousand joins costs a handful of edits, none
of them on a fan's click (the fan's own answer carries the exact count anyway).

What "may" means:
- an edit that would show what the post already shows is not sent;
- a post less than an hour old is edited at most every ``fresh_interval`` seconds;
- a post older than an hour falls under Discord's cap on edits to old messages (30046): a count
  change waits ``old_interval`` since the last edit, while a change of the drop itself (edited,
  cancelled, opened) goes at once, so the cap's few edits an hour go to what matters;
- a 30046 (or any failed edit) backs the post off and keeps it dirty: the latest state lands
  later, never a burst of retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import discord
from discord.ext import commands

from cogs.drops.announcement import fingerprint, render_embed, render_view
from services import metrics
from services.drops.service import DropService
from services.localtime import utcnow
from storage.drops import Drop
from storage.states import DropStatus

log = logging.getLogger("dropbell.drops")

OLD_MESSAGE_AGE = timedelta(hours=1)
# (channel id, message id, text as it should read now) of a live drop's opening post.
OpeningPost = Callable[[Drop], Awaitable[tuple[int, int, str] | None]]
OLD_MESSAGE_EDITS_CAPPED = 30046
FAILED_EDIT_BACKOFF = 60.0


@dataclass
class _Shown:
    text: str | None = None  # fingerprint of what the post shows now, if known
    last_edit: float = float("-inf")


@dataclass
class _Post:
    """A drop's posts: the announcement, and once it opens, the opening post with its stock."""

    announcement: _Shown = field(default_factory=_Shown)
    opening: _Shown = field(default_factory=_Shown)
    blocked_until: float = 0.0
    drop_changed: bool = False


class AnnouncementRefresher:
    def __init__(
        self,
        bot: commands.Bot,
        service: DropService,
        *,
        fresh_interval: float = 3.0,
        old_interval: float = 30 * 60.0,
        capped_backoff: float = 20 * 60.0,
        opening_post: OpeningPost | None = None,
    ) -> None:
        self.bot = bot
        self.service = service
        self.fresh_interval = fresh_interval
        self.old_interval = old_interval
        self.capped_backoff = capped_backoff
        self.opening_post = opening_post
        self._posts: dict[int, _Post] = {}
        self._dirty: set[int] = set()
        self._refreshing: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    def mark(self, drop_id: int, *, drop_changed: bool = False) -> None:
        post = self._posts.setdefault(drop_id, _Post())
        post.drop_changed = post.drop_changed or drop_changed
        self._dirty.add(drop_id)
        self._wake.set()

    def posted(self, drop: Drop, message: discord.Message, waitlist_count: int = 0) -> None:
        """The post as it went out, so an edit showing the same is never sent."""
        shown = fingerprint(render_embed(drop, waitlist_count), render_view(drop))
        self._posts[drop.id] = _Post(announcement=_Shown(shown, time.monotonic()))

    @property
    def idle(self) -> bool:
        """Nothing waits to be edited (nor is being edited)."""
        return not self._dirty and not self._refreshing

    async def _drop_changed(self, drop_id: int) -> None:
        self.mark(drop_id, drop_changed=True)

    def start(self) -> None:
        # The post follows whoever changed the drop or its line (a join, an edit, the opening).
        events = self.service.events
        self._unsubscribe = [
            events.on_drop_changed(self._drop_changed),
            events.on_waitlist_changed(self.mark),
        ]
        self._task = asyncio.create_task(self._run(), name="dropbell-announcement-refresher")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Whatever may still be edited gets its last edit so the post ends up right.
        await self.flush()

    async def _run(self) -> None:
        while True:
            if not self._dirty:
                await self._wake.wait()
            self._wake.clear()
            await self.flush()
            # Marks that come meanwhile are coalesced into the next pass; posts still dirty are
            # waiting for their turn.
            await asyncio.sleep(self.fresh_interval)

    async def flush(self) -> None:
        for drop_id in list(self._dirty):
            # Unmarked before the refresh reads the drop and its count: a join marking it while
            # the refresh awaits must stay marked, or the post keeps the older count for good.
            self._dirty.discard(drop_id)
            self._refreshing.add(drop_id)
            try:
                if not await self._refresh_if_due(drop_id):
                    self._dirty.add(drop_id)
            except Exception:
                self._dirty.add(drop_id)
                log.exception("could not refresh the announcement of drop %s", drop_id)
                self._posts[drop_id].blocked_until = time.monotonic() + FAILED_EDIT_BACKOFF
            finally:
                self._refreshing.discard(drop_id)

    async def _refresh_if_due(self, drop_id: int) -> bool:
        """Edit the drop's posts if they may be edited now; True when nothing is left to do."""
        post = self._posts.setdefault(drop_id, _Post())
        now = time.monotonic()
        if now < post.blocked_until:
            return False
        drop = await self.service.get_any(drop_id)
        if drop is None or drop.channel_id is None:
            return True
        announced = True
        if drop.message_id is not None:
            count = await self.service.waitlist_count(drop.id)
            embed, view = render_embed(drop, count), render_view(drop)
            announced = await self._edit(
                drop, post, post.announcement, drop.channel_id, drop.message_id, now,
                fingerprint(embed, view), {"embed": embed, "view": view},
            )  # fmt: skip
        opened = True
        if drop.status == DropStatus.LIVE and drop.product:
            # The opening post carries Get my link and the real remaining stock: it follows too.
            found = await self.opening_post(drop) if self.opening_post else None
            if found is not None:
                channel_id, message_id, content = found
                opened = await self._edit(
                    drop, post, post.opening, channel_id, message_id, now, content,
                    {"content": content},
                )  # fmt: skip
        if announced and opened:
            post.drop_changed = False
        return announced and opened

    async def _edit(
        self,
        drop: Drop,
        post: _Post,
        shown: _Shown,
        channel_id: int,
        message_id: int,
        now: float,
        fingerprint_now: str,
        changes: dict[str, object],
    ) -> bool:
        """One post of the drop: edited if it would show something new and may be edited."""
        if fingerprint_now == shown.text:
            return True
        old = utcnow() - discord.utils.snowflake_time(message_id) > OLD_MESSAGE_AGE
        interval = self.old_interval if old and not post.drop_changed else self.fresh_interval
        if now - shown.last_edit < interval:
            return False
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(**changes)  # type: ignore[arg-type]
        except discord.NotFound:
            log.warning("a post of drop %s is gone; not editing it again", drop.id)
            shown.text = fingerprint_now
            return True
        except discord.HTTPException as error:
            if error.code != OLD_MESSAGE_EDITS_CAPPED:
                raise
            log.info("drop %s: Discord caps edits of its old post; trying later", drop.id)
            post.blocked_until = now + self.capped_backoff
            return False
        shown.text, shown.last_edit = fingerprint_now, now
        metrics.ANNOUNCEMENT_EDITS.inc()
        return True
