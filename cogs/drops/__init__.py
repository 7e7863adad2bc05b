"""Drops and waitlists: /drop (managers), /waitlist and the announcement buttons (fans)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.drops.buttons import DYNAMIC_ITEMS
from cogs.drops.claim import answers_of
from cogs.drops.manage import DropCommands
from cogs.drops.refresher import AnnouncementRefresher
from cogs.drops.waitlist import Waitlist

if TYPE_CHECKING:
    from bot.bot import Dropbell


async def setup(bot: Dropbell) -> None:
    refresher = AnnouncementRefresher(
        bot, bot.services.drops, opening_post=bot.services.schedule.opening_post
    )
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(DropCommands(bot, refresher))
    await bot.add_cog(Waitlist())
    # A paid order updates the fan's claim answer while its interaction lives.
    bot.services.drop_day.orders.listeners.append(answers_of(bot))


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
