"""``/announce``: a manager's message, previewed as a draft, then scheduled once or repeating."""

from __future__ import annotations

from datetime import datetime

from services.errors import UserError
from services.localtime import LOCAL_FORMAT, discord_timestamp, format_local, utcnow, zone
from services.schedule import render
from services.schedule.jobs import JobCache
from storage.schedule import ScheduledSend, SendStore
from storage.states import Repeat, SendKind, SendState

DRAFT, PENDING = (SendState.DRAFT,), (SendState.PENDING,)


def local_time(row: ScheduledSend) -> str:
    return format_local(row.due_at, row.timezone or "UTC")


class Announcements:
    def __init__(self, sends: SendStore, jobs: JobCache) -> None:
        self.sends = sends
        self.jobs = jobs

    async def draft(
        self,
        guild_id: int,
        channel_id: int,
        message: str,
        due_at: datetime,
        zone_name: str,
        repeat: str | None,
        created_by: int,
    ) -> ScheduledSend:
        """Validate and store an announcement as a draft; nothing fires until confirmed."""
        text = message.strip()
        if not text:
            raise UserError("The announcement is empty; write the message to post.")
        if len(text) > render.MAX_ANNOUNCEMENT:
            raise UserError(
                f"That message is {len(text):,} characters; keep it to "
                f"{render.MAX_ANNOUNCEMENT:,} or fewer."
            )
        if repeat is not None and repeat not in set(Repeat):
            raise UserError(f"{repeat!r} is not a repeat; use daily or weekly, or leave it empty.")
        if due_at <= utcnow():
            raise UserError(
                f"That time ({discord_timestamp(due_at)}) is in the past; pick a time that is "
                "still to come."
            )
        tz = zone(zone_name)
        return await self.sends.insert(
            guild_id=guild_id,
            kind=SendKind.ANNOUNCEMENT,
            channel_id=channel_id,
            due_at=due_at,
            message=text,
            timezone=tz.key,
            wall_clock=due_at.astimezone(tz).strftime(LOCAL_FORMAT),
            repeat=repeat,
            created_by=created_by,
            state=SendState.DRAFT,
        )

    async def confirm(self, send_id: int, user_id: int) -> ScheduledSend:
        draft = await self.sends.get(send_id)
        if draft is None or draft.created_by != user_id:
            raise UserError("That preview isn't yours to confirm; run /announce schedule yourself.")
        if draft.state != SendState.DRAFT:
            raise UserError(f"That announcement is already {draft.state}.")
        if draft.due_at <= utcnow():
            await self.sends.transition(send_id, DRAFT, SendState.CANCELLED)
            raise UserError(
                "Its time has passed while the preview was open; run /announce schedule again."
            )
        row = await self.sends.transition(send_id, DRAFT, SendState.PENDING)
        if row is None:
            raise UserError("That announcement was already confirmed or discarded.")
        self.jobs.schedule(row)
        return row

    async def discard(self, send_id: int, user_id: int) -> None:
        draft = await self.sends.get(send_id)
        if draft is None or draft.created_by != user_id:
            raise UserError("That preview isn't yours to discard.")
        await self.sends.transition(send_id, DRAFT, SendState.CANCELLED)

    async def pending(self, guild_id: int) -> list[ScheduledSend]:
        """What this server will post: announcements and drop countdowns and openings."""
        kinds = (SendKind.ANNOUNCEMENT, SendKind.COUNTDOWN, SendKind.OPENING)
        return await self.sends.guild_pending(guild_id, kinds)

    async def pending_announcements(self, guild_id: int) -> list[ScheduledSend]:
        return await self.sends.guild_pending(guild_id, (SendKind.ANNOUNCEMENT,))

    async def cancel(self, guild_id: int, send_id: int) -> ScheduledSend:
        found = await self.sends.find_announcement(guild_id, send_id)
        if found is None:
            raise UserError(
                "I can't find that announcement in this server; pick one from the list."
            )
        cancelled = await self.sends.transition(send_id, PENDING, SendState.CANCELLED)
        if cancelled is None:
            state = (await self.sends.get(send_id) or found).state
            if state == SendState.SENDING:
                raise UserError("That announcement is being posted right now; it's too late.")
            raise UserError(f"That announcement is already {state}; nothing to cancel.")
        self.jobs.unschedule(cancelled.id)
        return cancelled
