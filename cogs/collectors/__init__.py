"""Collector tiers and profiles: /collector (tier-* for managers, profile for fans), the role
queue's Discord side, and the gateway's role deletions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.collectors.commands import CollectorCommands
from cogs.collectors.profile import DYNAMIC_ITEMS
from cogs.collectors.roles import CollectorRoles

if TYPE_CHECKING:
    from bot.bot import Dropbell


async def setup(bot: Dropbell) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(CollectorRoles(bot))
    await bot.add_cog(CollectorCommands(bot))


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
