"""Pre-order polls: /poll (managers), the option, quantity and withdraw buttons (fans)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

from discord.ext import commands

from cogs._post_refresher import PostRefresher, Rendered
from cogs.polls.buttons import DYNAMIC_ITEMS
from cogs.polls.manage import PollCommands
from cogs.polls.poster import DiscordPollPoster
from cogs.polls.render import rendered
from services.localtime import utcnow

if TYPE_CHECKING:
    from bot.bot import Dropbell

RECHECK_CLOSED = timedelta(days=1)


class PollPosts(commands.Cog):
    """The poll posts' life in the bot: the refresher follows every tally change."""

    def __init__(self, bot: Dropbell, refresher: PostRefresher) -> None:
        self.bot = bot
        self.refresher = refresher
        self._unsubscribe = bot.services.polls.on_changed(refresher.mark)
        self._recheck: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        polls = self.bot.services.polls
        polls.poster = DiscordPollPoster(self.bot)
        self.refresher.start()
        # A crash between a poll's closing and its post's edit left the post showing live
        # buttons: every post that may be stale is looked at once (unchanged ones cost nothing).
        self._recheck = asyncio.create_task(self._recheck_posts(), name="dropbell-poll-recheck")

    async def _recheck_posts(self) -> None:
        since = utcnow() - RECHECK_CLOSED
        for poll_id in await self.bot.services.polls.store.showing(since):
            self.refresher.mark(poll_id)

    async def cog_unload(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._recheck
        self._unsubscribe()
        self.bot.services.polls.poster = None
        await self.refresher.stop()


def refresher_for(bot: Dropbell) -> PostRefresher:
    polls = bot.services.polls

    async def render(poll_id: int) -> Rendered | None:
        poll = await polls.get_any(poll_id)
        if poll is None:
            return None
        return rendered(poll, await polls.options(poll_id), polls.currency)

    return PostRefresher(bot, render, name="poll")


async def setup(bot: Dropbell) -> None:
    refresher = refresher_for(bot)
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(PollPosts(bot, refresher))
    await bot.add_cog(PollCommands(bot, refresher))


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
