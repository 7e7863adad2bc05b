"""Scheduled posts: /announce, and the Discord side of countdowns, openings and reminder DMs.

The rules live in ``services.schedule``; this package only adapts Discord to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.schedule.announce import AnnounceCommands
from cogs.schedule.buttons import DYNAMIC_ITEMS
from cogs.schedule.runtime import Schedule

if TYPE_CHECKING:
    from bot.bot import Dropbell


async def setup(bot: Dropbell) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Schedule(bot))
    await bot.add_cog(AnnounceCommands())


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
