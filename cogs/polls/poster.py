"""The poll service's door to Discord: the results post at closing."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.ui import view_of
from cogs.polls.buttons import PollDropButton
from services.schedule.outbox import SendFailed
from storage.polls import Poll


class DiscordPollPoster:
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def post_results(self, poll: Poll, content: str) -> int:
        channel = self.bot.get_partial_messageable(poll.channel_id)
        try:
            message = await channel.send(
                content,
                # Managers only: the button checks the presser (fans get one sentence).
                view=view_of(PollDropButton(poll_id=poll.id)),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as error:
            permanent = isinstance(error, discord.Forbidden | discord.NotFound)
            later = error.status == 429
            raise SendFailed(
                error.text or f"HTTP {error.status}", permanent=permanent, later=later
            ) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return message.id
