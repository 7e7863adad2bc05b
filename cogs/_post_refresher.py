"""Coalesced edits of a post that shows live counts (a drop's announcement and opening post, a
poll's tally), within Discord's caps.

Presses never edit the post themselves: they mark it dirty, and one background loop edits each
dirty post when it may. A burst of a thousand presses costs a handful of edits, none of them on
a fan's click (the fan's own answer carries the exact count anyway).

- an edit that would show what the post already shows is not sent;
- a post less than an hour old is edited at most every ``fresh_interval`` seconds;
- a post older than an hour falls under Discord's cap on edits to old messages (30046): a count
  change waits ``old_interval`` since the last edit, while an urgent change (the drop edited,
  opened or cancelled, the poll closed) goes at once, so the cap's few edits an hour go to what
  matters;
- a 30046 (or any failed edit) backs the post off and keeps it dirty: the latest state lands
  later, never a burst of retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands

from services.localtime import utcnow

log = logging.getLogger("dropbell.posts")

OLD_MESSAGE_AGE = timedelta(hours=1)
OLD_MESSAGE_EDITS_CAPPED = 30046
FAILED_EDIT_BACKOFF = 60.0


@dataclass
class Rendered:
    """What a post should show now (its embed and view, or its text); ``urgent``: a change of
    state, not of a count."""

    channel_id: int
    message_id: int
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None
    content: str | None = None
    urgent: bool = False
    shown: str = field(init=False)

    def __post_init__(self) -> None:
        self.shown = json.dumps(
            [
                self.embed.to_dict() if self.embed else None,
                self.view.to_components() if self.view else None,
                self.content,
            ],
            sort_keys=True,
            default=str,
        )

    def changes(self) -> dict[str, Any]:
        found = {"embed": self.embed, "view": self.view, "content": self.content}
        return {name: value for name, value in found.items() if value is not None}


@dataclass
class _Post:
    shown: str | None = None
    last_edit: float = float("-inf")
    blocked_until: float = 0.0


# Renders the post of a key as it should look now (None: there is no post to edit).
Render = Callable[[int], Awaitable[Rendered | None]]


class PostRefresher:
    def __init__(
        self,
        bot: commands.Bot,
        render: Render,
        *,
        name: str,
        fresh_interval: float = 3.0,
        old_interval: float = 30 * 60.0,
        capped_backoff: float = 20 * 60.0,
        on_edit: Callable[[], None] | None = None,
    ) -> None:
        self.bot = bot
        self.on_edit = on_edit
        self.render = render
        self.name = name
        self.fresh_interval = fresh_interval
        self.old_interval = old_interval
        self.capped_backoff = capped_backoff
        self.edits = 0
        self._posts: dict[int, _Post] = {}
        self._dirty: set[int] = set()
        self._urgent: set[int] = set()  # marked urgent since their last edit
        self._refreshing: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def mark(self, key: int, *, urgent: bool = False) -> None:
        if urgent:
            self._urgent.add(key)
        self._dirty.add(key)
        self._wake.set()

    def posted(self, key: int, rendered: Rendered) -> None:
        """The post as it went out, so an edit showing the same is never sent."""
        self._posts[key] = _Post(shown=rendered.shown, last_edit=time.monotonic())

    @property
    def idle(self) -> bool:
        return not self._dirty and not self._refreshing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"dropbell-{self.name}-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()  # whatever may still be edited gets its last edit

    async def _run(self) -> None:
        while True:
            if not self._dirty:
                await self._wake.wait()
            self._wake.clear()
            await self.flush()
            # Marks that come meanwhile are coalesced into the next pass.
            await asyncio.sleep(self.fresh_interval)

    async def flush(self) -> None:
        for key in list(self._dirty):
            # Unmarked before rendering reads the counts: a mark while we await stays marked.
            self._dirty.discard(key)
            self._refreshing.add(key)
            try:
                if not await self._refresh_if_due(key):
                    self._dirty.add(key)
            except Exception:
                self._dirty.add(key)
                log.exception("could not refresh %s post %s", self.name, key)
                self._posts.setdefault(key, _Post()).blocked_until = (
                    time.monotonic() + FAILED_EDIT_BACKOFF
                )
            finally:
                self._refreshing.discard(key)

    async def _refresh_if_due(self, key: int) -> bool:
        """Edit the post if it may be edited now; True when nothing is left to do."""
        post = self._posts.setdefault(key, _Post())
        now = time.monotonic()
        if now < post.blocked_until:
            return False
        rendered = await self.render(key)
        if rendered is None or rendered.shown == post.shown:
            self._urgent.discard(key)
            return True
        old = utcnow() - discord.utils.snowflake_time(rendered.message_id) > OLD_MESSAGE_AGE
        urgent = rendered.urgent or key in self._urgent
        interval = self.old_interval if old and not urgent else self.fresh_interval
        if now - post.last_edit < interval:
            return False
        message = self.bot.get_partial_messageable(rendered.channel_id).get_partial_message(
            rendered.message_id
        )
        try:
            await message.edit(**rendered.changes())
        except discord.NotFound:
            log.warning("the %s post %s is gone; not editing it again", self.name, key)
            post.shown = rendered.shown
            return True
        except discord.HTTPException as error:
            if error.code != OLD_MESSAGE_EDITS_CAPPED:
                raise
            log.info("%s post %s: Discord caps edits of its old post; later", self.name, key)
            post.blocked_until = now + self.capped_backoff
            return False
        post.shown, post.last_edit = rendered.shown, now
        self._urgent.discard(key)
        self.edits += 1
        if self.on_edit is not None:
            self.on_edit()
        return True
