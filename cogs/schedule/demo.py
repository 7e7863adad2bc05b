"""A countdown compressed into seconds, for ``dropbell demo`` (and nothing else)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.localtime import utcnow

if TYPE_CHECKING:
    from bot.bot import Dropbell


async def compressed_countdown(
    bot: Dropbell,
    guild_id: int,
    drop_id: int,
    *,
    opens_in: float = 12.0,
    countdowns: tuple[float, ...] = (8.0, 4.0),
    reminders: tuple[float, ...] = (6.0, 0.0),
) -> datetime:
    """Move a drop's opening to ``opens_in`` seconds from now, with countdown posts and reminder
    DMs the given seconds before it instead of hours; returns the new opening time (UTC).

    It changes the bot's countdown plan as a whole (fine in a demo, where every drop is a demo
    drop), then goes the production way: edit the drop, rebuild its rows, signal drop_changed.
    The posts then fire from the table like any others: countdowns in the drop's channel, the
    opening post (the drop turns live), and DMs to the fans who pressed Remind me.
    """
    service = bot.schedule_service
    service.countdown_offsets = [timedelta(seconds=value) for value in countdowns]
    service.reminder_offsets = [timedelta(seconds=value) for value in reminders]
    starts_at = utcnow() + timedelta(seconds=opens_in)
    await bot.drop_service.update(guild_id, drop_id, starts_at=starts_at)
    await service.sync_drop(drop_id)
    bot.dispatch("drop_changed", drop_id)
    return starts_at
