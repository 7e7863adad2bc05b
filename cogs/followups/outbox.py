"""The follow-up sender's outbox: the schedule's DMs through discord.py, plus the thank-you DM
with its Join button."""

from __future__ import annotations

from bot.ui import view_of
from cogs.drops.buttons import JoinButton
from cogs.schedule.outbox import DiscordOutbox


class FollowupDiscordOutbox(DiscordOutbox):
    def server_name(self, guild_id: int) -> str | None:
        guild = self.bot.get_guild(guild_id)
        return guild.name if guild is not None else None

    async def thank(self, channel_id: int, content: str, join: tuple[int, str] | None) -> int:
        view = None
        if join is not None:
            drop_id, label = join
            # The drop's own Join button (product.md's custom_id), worded for the DM.
            button = JoinButton(drop_id=drop_id)
            button.item.label = label
            view = view_of(button)
        return await self.dm_with_view(channel_id, content, view)
