"""Scheduled posts: /announce, drop countdowns and openings, reminder DMs.

The service (``service.py``) is plain code over the ``scheduled_sends`` table; the cogs here
only adapt Discord to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.schedule.announce import AnnounceCommands
from cogs.schedule.buttons import DYNAMIC_ITEMS
from cogs.schedule.runtime import Schedule

if TYPE_CHECKING:
    from bot.bot import Dropbell


async def setup(bot: Dropbell) -> None:
    service = bot.schedule_service
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Schedule(bot, service))
    await bot.add_cog(AnnounceCommands(bot, service))


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
