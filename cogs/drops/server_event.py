"""The drop's entry in the server's Events tab, following Discord's own lifecycle.

An external event turns ACTIVE at its start and COMPLETED at its end by itself, and a finished
event can no longer be changed. So a change of the drop is applied to the event only as far as
its state allows, and the manager is told in one sentence what happened to it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import discord

from storage.drops import Drop

log = logging.getLogger("dropbell.drops")

EVENT_LENGTH = timedelta(hours=1)
FINISHED = (discord.EventStatus.completed, discord.EventStatus.cancelled)


async def create_event(guild: discord.Guild | None, drop: Drop) -> tuple[int | None, str]:
    """A server event for the drop, and a note for the manager (a missing permission is told,
    not fatal)."""
    if guild is None:
        return None, ""
    try:
        event = await guild.create_scheduled_event(
            name=drop.name,
            start_time=drop.starts_at,
            end_time=drop.starts_at + EVENT_LENGTH,
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location="Discord: press Join waitlist on the announcement",
            description=(drop.description or "A dropbell drop.")[:1000],
        )
    except discord.Forbidden:
        return None, (
            "\nI couldn't add it to the server's Events tab: I need the Manage Events "
            "permission. The drop itself is created."
        )
    except discord.HTTPException as error:
        log.warning("could not create the event for drop %s: %s", drop.id, error)
        return None, "\nThe server event could not be created; the drop itself is fine."
    return event.id, ""


async def follow_drop(guild: discord.Guild | None, drop: Drop) -> str:
    """Bring the drop's server event in line with the drop; a note for the manager."""
    if guild is None or drop.event_id is None:
        return ""
    try:
        event = await guild.fetch_scheduled_event(drop.event_id)
        if event.status in FINISHED:
            return "\nIts server event has already ended, so it was left as it is."
        if event.status == discord.EventStatus.active:
            if not drop.is_open:
                await event.end()
                return "\nIts server event was live; I ended it."
            if event.name != drop.name:
                await event.edit(name=drop.name)
            return "\nIts server event is already live, so its time stays as it was."
        if not drop.is_open:
            await event.delete()
            return "\nIts server event was removed."
        await event.edit(
            name=drop.name, start_time=drop.starts_at, end_time=drop.starts_at + EVENT_LENGTH
        )
        return ""
    except discord.NotFound:
        return "\nIts server event was deleted by someone; nothing to update there."
    except discord.HTTPException as error:
        log.warning("could not update the event of drop %s: %s", drop.id, error)
        return f"\nThe server event could not be updated ({error.text or error.status})."
