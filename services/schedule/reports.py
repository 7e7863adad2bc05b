"""What the schedule tells a server's managers (missed, uncertain or failed posts), and how it
names a scheduled send in those sentences."""

from __future__ import annotations

import logging

from services.drops.service import DropService
from services.guild_settings import GuildSettingsService
from services.schedule import render
from services.schedule.outbox import Outbox, SendFailed
from services.text import duration_text
from storage.schedule import ScheduledSend
from storage.states import SendKind

log = logging.getLogger("dropbell.schedule")


async def describe(row: ScheduledSend, drops: DropService) -> str:
    """A scheduled send in words, for managers: "the opening post of **Night Moth Tee**"."""
    if row.kind == SendKind.ANNOUNCEMENT:
        text = " ".join((row.message or "").split())
        short = text if len(text) <= 60 else text[:57] + "…"
        return f"the announcement “{short}” for <#{row.channel_id}>"
    if row.kind == SendKind.POLL_GOAL:
        return f"the goal post of a pre-order poll in <#{row.channel_id}>"
    if row.kind == SendKind.POLL_CLOSE:
        return f"the closing results of a pre-order poll in <#{row.channel_id}> (/poll results)"
    drop = await drops.get_any(row.drop_id) if row.drop_id is not None else None
    name = f"**{drop.name}**" if drop else "a deleted drop"
    if row.kind == SendKind.COUNTDOWN:
        return f"the {duration_text(row.offset_seconds)} countdown post of {name}"
    if row.kind == SendKind.OPENING:
        return f"the opening post of {name}"
    if row.kind == SendKind.RAFFLE:
        return f"the raffle result DMs of {name}"
    if row.kind == SendKind.RESTOCK:
        return f"the restock DMs of {name}"
    if row.kind == SendKind.POLL_DROP:
        return f"the DMs telling the poll's committed fans they are on {name}'s waitlist"
    when = "opening" if row.offset_seconds == 0 else duration_text(row.offset_seconds)
    return f"the {when} reminder DMs of {name}"


class ManagerReports:
    def __init__(
        self,
        outbox: Outbox,
        guild_settings: GuildSettingsService,
        drops: DropService,
        grace_hours: float,
    ) -> None:
        self.outbox = outbox
        self.guild_settings = guild_settings
        self.drops = drops
        self.grace_hours = grace_hours

    async def _report(self, guild_id: int, text: str, fallback_channel: int | None = None) -> bool:
        """Post to the server's announce channel (or the fallback); True once posted."""
        settings = await self.guild_settings.get(guild_id)
        channel_id = settings.announce_channel_id or fallback_channel
        if channel_id is None:
            log.warning("no announce channel in guild %s to report: %s", guild_id, text)
            return False
        try:
            await self.outbox.post(channel_id, text)
        except SendFailed as error:
            log.warning("could not report to managers of guild %s: %s", guild_id, error)
            return False
        return True

    async def tell(self, guild_id: int, text: str) -> bool:
        """A notice for this server's managers, in its announce channel; True once posted."""
        return await self._report(guild_id, text)

    async def missed(self, guild_id: int, rows: list[ScheduledSend]) -> None:
        described = [(row, await describe(row, self.drops)) for row in rows]
        fallback = next((row.channel_id for row in rows if row.channel_id), None)
        await self._report(guild_id, render.missed_report(described, self.grace_hours), fallback)

    async def uncertain(self, row: ScheduledSend, channel_id: int | None) -> None:
        what = await describe(row, self.drops)
        await self._report(row.guild_id, render.uncertain_report(row, what, channel_id))

    async def failed(self, row: ScheduledSend, channel_id: int | None, reason: str) -> None:
        what = await describe(row, self.drops)
        await self._report(row.guild_id, render.failed_report(what, channel_id, reason))
