"""The posts and reminder DMs a drop gets, kept in line with the drop whenever it changes.

The offsets come from configuration (``scheduler.countdown_offsets_minutes`` and
``scheduler.reminder_offsets_minutes``): the demo and tests compress them into seconds there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from services.drops.service import DropService
from services.localtime import utcnow
from services.schedule.jobs import JobCache
from storage.drops import Drop
from storage.reminders import ReminderStore
from storage.schedule import ScheduledSend, SendStore
from storage.states import DropStatus, SendKind, SendState

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

PENDING = (SendState.PENDING,)


@dataclass(frozen=True)
class Offsets:
    """How long before opening a drop gets each countdown post and each reminder DM."""

    countdowns: tuple[timedelta, ...]
    reminders: tuple[timedelta, ...]

    def plan(self) -> list[tuple[SendKind, int]]:
        """(kind, seconds before opening) of every send a drop gets."""
        countdowns = [round(offset.total_seconds()) for offset in self.countdowns]
        reminders = [round(offset.total_seconds()) for offset in self.reminders]
        return (
            [(SendKind.COUNTDOWN, value) for value in countdowns if value > 0]
            + [(SendKind.OPENING, 0)]
            + [(SendKind.REMINDER, value) for value in reminders]
        )


class DropPlan:
    def __init__(
        self,
        sends: SendStore,
        reminders: ReminderStore,
        jobs: JobCache,
        drops: DropService,
        offsets: Offsets,
    ) -> None:
        self.sends = sends
        self.reminders = reminders
        self.jobs = jobs
        self.drops = drops
        self.offsets = offsets

    async def sync_drop(self, drop_id: int) -> None:
        """Bring a drop's rows in line with the drop: create, move or cancel them.

        Offsets already past are skipped; a countdown already sent for this very opening time
        is not sent again, but one sent for an earlier time is, if the drop was postponed.
        """
        drop = await self.drops.get_any(drop_id)
        if drop is None:
            return
        changed: list[ScheduledSend] = []
        removed: list[int] = []
        async with self.sends.write() as connection:
            rows = await self.sends.drop_rows(connection, drop.id)
            pending: dict[tuple[str, int], ScheduledSend] = {}
            for row in rows:
                if row.state != SendState.PENDING:
                    continue
                if (row.kind, row.offset_seconds) in pending:
                    removed.append(row.id)  # a stray duplicate
                else:
                    pending[(row.kind, row.offset_seconds)] = row
            if drop.status == DropStatus.SCHEDULED:
                await self._plan_scheduled(connection, drop, rows, pending, changed, removed)
                # Not the plan's to cancel: a drop made from a poll owes its fans these DMs.
                removed.extend(row.id for row in pending.values() if row.kind != SendKind.POLL_DROP)
            elif drop.status == DropStatus.LIVE:
                # Opened (perhaps early): a countdown would now be wrong; the rest stays.
                removed.extend(row.id for row in pending.values() if row.kind == SendKind.COUNTDOWN)
                if drop.drawn_at is not None and not any(r.kind == SendKind.RAFFLE for r in rows):
                    # Drawn: each opted-in entrant gets their result by DM, once.
                    changed.append(await self._dm_row(connection, drop, SendKind.RAFFLE))
            else:
                removed.extend(row.id for row in pending.values())
            for send_id in removed:
                await self.sends.transition_in(connection, send_id, PENDING, SendState.CANCELLED)
        for send_id in removed:
            self.jobs.unschedule(send_id)
        for row in changed:
            self.jobs.schedule(row)

    async def owe_dms(self, drop_id: int, kind: SendKind) -> None:
        """DMs of ``kind`` to the drop's opted-in fans, now (restocks)."""
        drop = await self.drops.get_any(drop_id)
        if drop is None:
            return
        async with self.sends.write() as connection:
            row = await self._dm_row(connection, drop, kind)
        self.jobs.schedule(row)

    async def _dm_row(
        self, connection: AsyncConnection, drop: Drop, kind: SendKind
    ) -> ScheduledSend:
        return await self.sends.insert(
            connection,
            guild_id=drop.guild_id,
            kind=kind,
            drop_id=drop.id,
            channel_id=drop.channel_id,
            due_at=utcnow(),
            offset_seconds=0,
        )

    async def _plan_scheduled(
        self,
        connection: AsyncConnection,
        drop: Drop,
        rows: Iterable[ScheduledSend],
        pending: dict[tuple[str, int], ScheduledSend],
        changed: list[ScheduledSend],
        removed: list[int],
    ) -> None:
        """Rows for every planned send still to come; ``pending`` keeps what is now unplanned."""
        now = utcnow()
        done = {
            (row.kind, row.offset_seconds, row.due_at)
            for row in rows
            if row.state in (SendState.SENDING, SendState.SENT)
        }
        for kind, offset in self.offsets.plan():
            due = drop.starts_at - timedelta(seconds=offset)
            existing = pending.pop((kind, offset), None)
            if (offset > 0 and due <= now) or (kind, offset, due) in done:
                if existing is not None:
                    removed.append(existing.id)
                continue
            if existing is None:
                changed.append(
                    await self.sends.insert(
                        connection,
                        guild_id=drop.guild_id,
                        kind=kind,
                        drop_id=drop.id,
                        channel_id=drop.channel_id,
                        due_at=due,
                        offset_seconds=offset,
                    )
                )
            elif existing.due_at != due or existing.channel_id != drop.channel_id:
                moved = await self.sends.transition_in(
                    connection,
                    existing.id,
                    PENDING,
                    SendState.PENDING,
                    due_at=due,
                    channel_id=drop.channel_id,
                )
                if moved is not None:
                    changed.append(moved)

    async def drop_sends(self, drop_id: int) -> list[ScheduledSend]:
        async with self.sends.database.read() as connection:
            return await self.sends.drop_rows(connection, drop_id)

    async def stop_reminders(self, drop_id: int, user_id: int) -> Drop | None:
        """The fan's Stop reminders: no more DMs about this drop, even those already owed."""
        await self.reminders.stop_reminders(drop_id, user_id)
        return await self.drops.get_any(drop_id)
