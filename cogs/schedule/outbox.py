"""The schedule's only door to Discord. The service speaks to an ``Outbox``; the real one wraps
discord.py, so the service stays plain code and its failures are three plain exceptions."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

if TYPE_CHECKING:
    from bot.bot import Dropbell

HISTORY_LOOKBACK = 100
CLOSED_DMS = 50007


class SendFailed(Exception):
    """A send did not happen. ``permanent``: trying again will not help (no access, no channel)."""

    def __init__(self, text: str, *, permanent: bool, code: int = 0) -> None:
        super().__init__(text)
        self.text = text
        self.permanent = permanent
        self.code = code


class Unreachable(SendFailed):
    """The fan's DMs are closed (50007): never retried."""

    def __init__(self, text: str) -> None:
        super().__init__(text, permanent=True, code=CLOSED_DMS)


class Outbox(Protocol):
    async def post(self, channel_id: int, content: str, *, ping_role_id: int | None = None) -> int:
        """Post in a channel; returns the message id."""
        ...

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None:
        """The id of a recent message of ours matching ``pattern``, if any."""
        ...

    async def open_dm(self, user_id: int) -> int:
        """The DM channel id for a user (one request)."""
        ...

    async def dm(self, channel_id: int, content: str, drop_id: int) -> int:
        """Send a reminder DM with its stop button; returns the message id."""
        ...

    def drop_went_live(self, drop_id: int) -> None: ...


def _failure(error: discord.HTTPException) -> SendFailed:
    text = error.text or f"HTTP {error.status}"
    if isinstance(error, discord.Forbidden) and error.code == CLOSED_DMS:
        return Unreachable(text)
    permanent = isinstance(error, discord.Forbidden | discord.NotFound)
    return SendFailed(text, permanent=permanent, code=error.code)


class DiscordOutbox:
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    async def post(self, channel_id: int, content: str, *, ping_role_id: int | None = None) -> int:
        channel = self.bot.get_partial_messageable(channel_id)
        mentions = (
            discord.AllowedMentions(roles=[discord.Object(ping_role_id)])
            if ping_role_id
            else discord.AllowedMentions.none()
        )
        try:
            message = await channel.send(content, allowed_mentions=mentions)
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
        from cogs.schedule.buttons import stop_reminders_view

        channel = self.bot.get_partial_messageable(channel_id, type=discord.ChannelType.private)
        kwargs: dict[str, Any] = {
            "view": stop_reminders_view(drop_id),
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        try:
            message = await channel.send(content, **kwargs)
        except discord.HTTPException as error:
            raise _failure(error) from error
        except (OSError, TimeoutError) as error:
            raise SendFailed(repr(error), permanent=False) from error
        return message.id

    def drop_went_live(self, drop_id: int) -> None:
        # Other features (the drop-day claim flow, the announcement) follow the drop's state.
        self.bot.dispatch("drop_changed", drop_id)
