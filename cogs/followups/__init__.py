"""The thank-you DM after a purchase: its sender starts and stops with this cog (the DM's Join
button is the drops cog's own ``dropbell:join:<drop_id>``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.followups.outbox import FollowupDiscordOutbox

if TYPE_CHECKING:
    from bot.bot import Dropbell


class PurchaseFollowupsCog(commands.Cog):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # Settles what a crash left and picks up pending DMs in the background (the leader).
        followups = self.bot.services.followups

        async def start() -> None:
            await followups.start(FollowupDiscordOutbox(self.bot))

        # From bot.close() (SIGTERM): the DM in flight finishes, the rest stays pending.
        await self.bot.services.leadership.take_on(
            "followups", start, followups.stop, followups.sweep
        )

    async def cog_unload(self) -> None:
        await self.bot.services.leadership.give_up("followups")


async def setup(bot: Dropbell) -> None:
    await bot.add_cog(PurchaseFollowupsCog(bot))
