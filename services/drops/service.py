"""Drops and their waitlists: what managers and fans may do, over ``storage``; no Discord.

Everything that writes runs in one IMMEDIATE transaction, so two fans joining at the same
instant get different places and a refusal stores nothing. Changes to a drop are announced on
:class:`~services.events.DropEvents`, which the schedule and the announcement follow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.drops.allocation import commitment_of, draw_order, new_seed
from services.drops.joins import NO_SUCH_DROP, JoinBatcher
from services.drops.rules import DropSpec, Member, validate_changes, validate_spec
from services.drops.wording import nothing_to_remind, reminders_to_come
from services.errors import UserError
from services.events import DropEvents
from services.localtime import utcnow
from storage.drops import Drop, DropStore
from storage.engine import Database
from storage.joins import Joined, JoinRequest
from storage.raffle import RaffleStore
from storage.states import Allocation, DropStatus
from storage.waitlists import FanEntry, WaitlistRow, WaitlistStore


@dataclass(frozen=True)
class ReminderToggle:
    drop: Drop
    enabled: bool
    on_waitlist: bool


def raffle_seed_for(allocation: str) -> dict[str, str]:
    """A raffle's secret seed and its public commitment, drawn when it becomes a raffle."""
    if allocation != Allocation.RAFFLE:
        return {}
    seed = new_seed()
    return {"raffle_seed": seed, "raffle_commitment": commitment_of(seed)}


class DropService:
    def __init__(self, database: Database, events: DropEvents) -> None:
        self.database = database
        self.events = events
        self.store = DropStore(database)
        self.waitlists = WaitlistStore(database)
        self._joins = JoinBatcher(database)
        self.raffles = RaffleStore(database)

    # --- drops -------------------------------------------------------------------------------
    async def create(
        self,
        guild_id: int,
        created_by: int,
        spec: DropSpec,
        within: Callable[[Any, Drop], Awaitable[None]] | None = None,
    ) -> Drop:
        """The drop's row; ``within(connection, drop)`` runs in the same transaction (a drop
        made from a poll takes the poll and fills its waitlist there) and may raise to undo."""
        now = utcnow()
        spec = validate_spec(spec, now)
        async with self.database.write() as connection:
            await self._check_name_free(connection, guild_id, spec.name)
            drop = await self.store.insert(
                connection,
                **dataclasses.asdict(spec),
                **raffle_seed_for(spec.allocation),
                guild_id=guild_id,
                remaining=spec.stock,
                status=DropStatus.SCHEDULED,
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            if within is not None:
                await within(connection, drop)
                drop = await self.store.get_in(connection, guild_id, drop.id) or drop
            return drop

    async def _check_name_free(
        self, connection: Any, guild_id: int, name: str, except_id: int | None = None
    ) -> None:
        taken = await self.store.open_name_taken(connection, guild_id, name, except_id)
        if taken is not None:
            raise UserError(
                f"This server already has an open drop called **{taken}**; pick another name or "
                "cancel that drop first."
            )

    async def get(self, guild_id: int, drop_id: int) -> Drop:
        drop = await self.store.get(guild_id, drop_id)
        if drop is None:
            raise UserError(NO_SUCH_DROP)
        return drop

    async def get_any(self, drop_id: int) -> Drop | None:
        """A drop by id whatever its server: for background work, never for a user's input."""
        return await self.store.get_any(drop_id)

    async def announced(
        self, drop_id: int, *, channel_id: int, message_id: int, event_id: int | None
    ) -> None:
        """The announcement is posted: from here on the drop's schedule and post follow it."""
        await self.store.record_announcement(
            drop_id, channel_id=channel_id, message_id=message_id, event_id=event_id
        )
        await self.events.drop_changed(drop_id)

    async def delete(self, drop_id: int) -> None:
        """Undo a create whose announcement could not be posted."""
        await self.store.delete(drop_id)

    async def resolve(self, guild_id: int, typed: str) -> Drop:
        """A drop from an option value: the id autocomplete fills in, or a name typed by hand."""
        typed = typed.strip()
        if typed.isdigit():
            found = await self.store.get(guild_id, int(typed))
            if found is not None:
                return found
        found = await self.store.by_name(guild_id, typed)
        if found is None:
            raise UserError(
                f"There is no drop called {typed!r} in this server; pick one from the list."
            )
        return found

    async def drops(self, guild_id: int, *, open_only: bool = False) -> list[Drop]:
        return await self.store.in_guild(guild_id, open_only=open_only)

    async def suggest(self, guild_id: int, typed: str, limit: int = 25) -> list[Drop]:
        """Autocomplete: this server's drops matching what was typed, open ones first."""
        needle = typed.strip().casefold()
        found = [drop for drop in await self.drops(guild_id) if needle in drop.name.casefold()]
        return found[:limit]

    async def update(self, guild_id: int, drop_id: int, **changes: Any) -> Drop:
        """Edit a drop; ``changes`` holds only what the manager gave (see rules.EDITABLE)."""
        now = utcnow()
        async with self.database.write() as connection:
            drop = await self.store.get_in(connection, guild_id, drop_id)
            if drop is None:
                raise UserError(NO_SUCH_DROP)
            values = validate_changes(drop, changes, now)
            if drop.raffle_seed is None:
                values.update(raffle_seed_for(values.get("allocation", drop.allocation)))
            if "name" in values:
                await self._check_name_free(connection, guild_id, values["name"], drop.id)
            updated = await self.store.update(connection, drop.id, **values, updated_at=now)
        await self.events.drop_changed(updated.id)
        if updated.status == DropStatus.LIVE and updated.remaining > drop.remaining:
            await self.events.restocked(updated.id)  # claims re-open; opted-in fans are told
        return updated

    async def cancel(self, guild_id: int, drop_id: int) -> Drop:
        now = utcnow()
        async with self.database.write() as connection:
            drop = await self.store.get_in(connection, guild_id, drop_id)
            if drop is None:
                raise UserError(NO_SUCH_DROP)
            if not drop.is_open:
                raise UserError(f"**{drop.name}** is already {drop.status}.")
            cancelled = await self.store.update(
                connection, drop.id, status=DropStatus.CANCELLED, updated_at=now
            )
        await self.events.drop_changed(cancelled.id)
        return cancelled

    async def open(self, drop_id: int) -> Drop | None:
        """scheduled -> live at opening time; None if the drop was not scheduled (any more)."""
        now = utcnow()
        live = await self.store.move_status(drop_id, DropStatus.SCHEDULED, DropStatus.LIVE, now)
        if live is not None:
            if live.allocation == Allocation.RAFFLE:
                # The draw, once: entries are ranked from the seed, which is now published.
                live = await self.raffles.draw(live.id, draw_order, now) or live
            await self.events.drop_changed(live.id)
        return live

    async def open_now(self, guild_id: int, drop_id: int) -> Drop:
        """/drop open: the drop's opening moves to now, and the schedule posts it at once."""
        now = utcnow()
        async with self.database.write() as connection:
            drop = await self.store.get_in(connection, guild_id, drop_id)
            if drop is None:
                raise UserError(NO_SUCH_DROP)
            if drop.status != DropStatus.SCHEDULED:
                raise UserError(f"**{drop.name}** is already {drop.status}.")
            moved = await self.store.update(connection, drop.id, starts_at=now, updated_at=now)
        await self.events.drop_changed(moved.id)
        return moved

    # --- waitlists ---------------------------------------------------------------------------
    async def join(
        self, guild_id: int, drop_id: int, user_id: int, display_name: str, member: Member
    ) -> Joined:
        """Put a fan on the waitlist (idempotent: joining again answers the existing place).

        Joins go through group commit (see joins.py), answered once their batch has committed.
        """
        joined = await self._joins.join(
            JoinRequest(guild_id, drop_id, user_id, display_name, member)
        )
        if not joined.already:
            self.events.waitlist_changed(drop_id)
        return joined

    async def joins_idle(self) -> None:
        await self._joins.idle()

    async def leave(self, guild_id: int, drop_id: int, user_id: int) -> Drop:
        drop = await self.get(guild_id, drop_id)
        if not await self.waitlists.remove(drop.id, user_id):
            raise UserError(f"You're not on the waitlist for **{drop.name}**.")
        self.events.waitlist_changed(drop.id)
        return drop

    async def waitlist_count(self, drop_id: int) -> int:
        return await self.waitlists.count(drop_id)

    async def waitlist_counts(self, drop_ids: list[int]) -> dict[int, int]:
        return await self.waitlists.counts(drop_ids)

    async def fan_entries(self, guild_id: int, user_id: int) -> list[FanEntry]:
        """Every drop in this server the fan is waitlisted for, with their place."""
        return await self.waitlists.fan_entries(guild_id, user_id)

    async def reminder_only(self, guild_id: int, user_id: int) -> list[Drop]:
        """Drops the fan wants reminders for without being on their waitlist."""
        return await self.waitlists.reminder_only(guild_id, user_id)

    async def toggle_reminder(
        self, guild_id: int, drop_id: int, user_id: int, offsets: Sequence[timedelta]
    ) -> ReminderToggle:
        """Flip the fan's reminder opt-in for this drop (``offsets``: when reminders go out
        before opening). Turning it on when none of them is still to come is refused."""
        drop = await self.get(guild_id, drop_id)
        on_waitlist = await self.waitlists.is_waitlisted(drop.id, user_id)
        if await self.waitlists.remove_reminder(drop.id, user_id):
            return ReminderToggle(drop, False, on_waitlist)
        if not drop.is_open:
            raise UserError(f"**{drop.name}** is {drop.status}; there is nothing to remind.")
        if not reminders_to_come(drop, offsets, utcnow()):
            raise UserError(nothing_to_remind(drop))
        await self.waitlists.add_reminder(drop.id, guild_id, user_id, utcnow())
        self.events.reminder_opted_in(user_id)
        return ReminderToggle(drop, True, on_waitlist)

    async def export(self, guild_id: int, drop_id: int) -> tuple[Drop, list[WaitlistRow]]:
        drop = await self.get(guild_id, drop_id)
        return drop, await self.waitlists.line(drop.id)
