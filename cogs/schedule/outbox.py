"""The schedule's outbox through discord.py: posts, history look-ups and reminder DMs, with
Discord's errors turned into the schedule's plain ones."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.ui import view_of
from cogs.drops.buttons import ClaimButton
from cogs.schedule.buttons import stop_reminders_view
from services.schedule.outbox import CLOSED_DMS, OPENING_DMS_TOO_FAST, SendFailed, Unreachable

HISTORY_LOOKBACK = 100


def _failure(error: discord.HTTPException) -> SendFailed:
    text = error.text or f"HTTP {error.status}"
    if isinstance(error, discord.Forbidden) and error.code == CLOSED_DMS:
        return Unreachable(text)
    # Only 50007 closes a door; 40003 and a 429 discord.py gave up on ask for a pause.
    later = error.status == 429 or error.code == OPENING_DMS_TOO_FAST
    permanent = isinstance(error, discord.Forbidden | discord.NotFound)
    return SendFailed(text, permanent=permanent, code=error.code, later=later)


class DiscordOutbox:
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def post(
        self,
        channel_id: int,
        content: str,
        *,
        ping_role_id: int | None = None,
        claim_drop_id: int | None = None,
    ) -> int:
        channel = self.bot.get_partial_messageable(channel_id)
        mentions = (
            discord.AllowedMentions(roles=[discord.Object(ping_role_id)])
            if ping_role_id
            else discord.AllowedMentions.none()
        )
        try:
            if claim_drop_id is None:
                message = await channel.send(content, allowed_mentions=mentions)
            else:
                view = view_of(ClaimButton(drop_id=claim_drop_id))
                message = await channel.send(content, allowed_mentions=mentions, view=view)
        except discord.HTTPException as error:
            raise _failure(error) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return message.id

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None:
        channel = self.bot.get_partial_messageable(channel_id)
        me = self.bot.user.id if self.bot.user else None
        try:
            async for message in channel.history(limit=HISTORY_LOOKBACK):
                if (me is None or message.author.id == me) and pattern.search(message.content):
                    return message.id
        except discord.HTTPException as error:
            raise _failure(error) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return None

    async def open_dm(self, user_id: int) -> int:
        try:
            channel = await self.bot.create_dm(discord.Object(user_id))
        except discord.HTTPException as error:
            raise _failure(error) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return channel.id

    async def dm(self, channel_id: int, content: str, drop_id: int) -> int:
        return await self.dm_with_view(channel_id, content, stop_reminders_view(drop_id))

    async def dm_with_view(
        self, channel_id: int, content: str, view: discord.ui.View | None
    ) -> int:
        """A DM (mentions off) with these buttons, if any; the message id."""
        channel = self.bot.get_partial_messageable(channel_id, type=discord.ChannelType.private)
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if view is not None:
            kwargs["view"] = view
        try:
            message = await channel.send(content, **kwargs)
        except discord.HTTPException as error:
            raise _failure(error) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return message.id
