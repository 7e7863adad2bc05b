"""Drops and their waitlists: plain service code over storage, no Discord objects.

The cog turns Discord input into these calls and their results (or UserError sentences) into
replies. Everything that writes runs in one IMMEDIATE transaction, so two fans joining at the
same instant get different places and a refusal stores nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import UserError
from bot.localtime import discord_timestamp, utcnow
from cogs.drops.joins import JoinBatcher
from storage.engine import Database
from storage.tables import drops, reminder_optins, waitlist_entries

ALLOCATIONS: Mapping[str, str] = {
    "waitlist-order": "Links go out in waitlist order: first to join, first served.",
    "raffle": (
        "Links go out by raffle among the waitlist; the seed's hash is published when entries "
        "open and the seed itself at the draw, so anyone can re-run it."
    ),
    "collectors-first": (
        "Collectors get their links first, then the rest of the waitlist in order."
    ),
}
OPEN_STATUSES = ("scheduled", "live")
MAX_NAME_LENGTH = 80
MAX_STOCK = 1_000_000


@dataclass(frozen=True)
class Drop:
    id: int
    guild_id: int
    name: str
    description: str | None
    image_url: str | None
    starts_at: datetime
    timezone: str
    stock: int
    remaining: int
    allocation: str
    early_access_minutes: int
    product: str | None
    required_role_id: int | None
    min_account_age_days: int
    min_member_days: int
    channel_id: int | None
    message_id: int | None
    ping_role_id: int | None
    event_id: int | None
    status: str
    created_by: int

    @classmethod
    def from_row(cls, row: Row[Any]) -> Drop:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in row._mapping.items() if key in names})

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def has_requirements(self) -> bool:
        return bool(self.required_role_id or self.min_account_age_days or self.min_member_days)


@dataclass(frozen=True)
class DropSpec:
    """What a manager asks for; validated by :func:`validate_spec`."""

    name: str
    starts_at: datetime
    timezone: str
    stock: int
    description: str | None = None
    image_url: str | None = None
    channel_id: int | None = None
    ping_role_id: int | None = None
    allocation: str = "waitlist-order"
    early_access_minutes: int = 0
    product: str | None = None
    required_role_id: int | None = None
    min_account_age_days: int = 0
    min_member_days: int = 0


@dataclass(frozen=True)
class Place:
    place: int
    total: int
    already: bool = False


@dataclass(frozen=True)
class FanEntry:
    drop: Drop
    place: int
    total: int
    reminders: bool


@dataclass(frozen=True)
class ExportRow:
    place: int
    user_id: int
    display_name: str
    joined_at: datetime
    reminders: bool


@dataclass(frozen=True)
class Member:
    """The parts of a Discord member that entry requirements look at."""

    role_ids: frozenset[int]
    account_created_at: datetime
    joined_server_at: datetime | None


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise UserError("The drop needs a name; give it one of up to 80 characters.")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise UserError(
            f"That name is {len(cleaned)} characters long; keep it to {MAX_NAME_LENGTH} or fewer."
        )
    return cleaned


def check_stock(stock: int) -> None:
    if not 1 <= stock <= MAX_STOCK:
        raise UserError(f"Stock must be between 1 and {MAX_STOCK:,}; you gave {stock:,}.")


def check_future(starts_at: datetime, now: datetime) -> None:
    if starts_at <= now:
        raise UserError(
            f"That time ({discord_timestamp(starts_at)}) is in the past; pick a time that is "
            "still to come."
        )


def validate_spec(spec: DropSpec, now: datetime) -> DropSpec:
    name = clean_name(spec.name)
    check_stock(spec.stock)
    check_future(spec.starts_at, now)
    if spec.allocation not in ALLOCATIONS:
        raise UserError(
            f"{spec.allocation!r} is not an allocation method; use one of {', '.join(ALLOCATIONS)}."
        )
    for label, value in (
        ("early_access_minutes", spec.early_access_minutes),
        ("min_account_age_days", spec.min_account_age_days),
        ("min_member_days", spec.min_member_days),
    ):
        if not 0 <= value <= 3650 * 24 * 60:
            raise UserError(f"{label} cannot be negative; use 0 for none.")
    return dataclasses.replace(spec, name=name)


def unmet_requirement(
    drop: Drop, member: Member, now: datetime, role_name: str | None = None
) -> str | None:
    """The sentence telling a fan which entry requirement they miss (and when they'd meet it)."""
    if drop.required_role_id and drop.required_role_id not in member.role_ids:
        role = f"the @{role_name} role" if role_name else f"the role <@&{drop.required_role_id}>"
        return f"**{drop.name}** is open to members with {role}; you don't have it yet."
    if drop.min_account_age_days:
        eligible = member.account_created_at + timedelta(days=drop.min_account_age_days)
        if eligible > now:
            return (
                f"**{drop.name}** needs a Discord account at least {drop.min_account_age_days} "
                f"days old; yours will be, {_when(eligible)}."
            )
    if drop.min_member_days:
        joined = member.joined_server_at or now
        eligible = joined + timedelta(days=drop.min_member_days)
        if eligible > now:
            return (
                f"**{drop.name}** needs {drop.min_member_days} days in this server; "
                f"you'll qualify {_when(eligible)}."
            )
    return None


def _when(moment: datetime) -> str:
    return f"on {discord_timestamp(moment, 'f')} ({discord_timestamp(moment, 'R')})"


class DropService:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._joins = JoinBatcher(database)

    # --- drops -------------------------------------------------------------------------------
    async def create(self, guild_id: int, created_by: int, spec: DropSpec) -> Drop:
        now = utcnow()
        spec = validate_spec(spec, now)
        async with self.database.write() as connection:
            await self._check_name_free(connection, guild_id, spec.name)
            values = dataclasses.asdict(spec)
            result = await connection.execute(
                drops.insert()
                .values(
                    **values,
                    guild_id=guild_id,
                    name_key=spec.name.casefold(),
                    remaining=spec.stock,
                    status="scheduled",
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*drops.c)
            )
            return Drop.from_row(result.one())

    async def _check_name_free(
        self, connection: AsyncConnection, guild_id: int, name: str, except_id: int | None = None
    ) -> None:
        query = select(drops.c.id).where(
            drops.c.guild_id == guild_id,
            drops.c.name_key == name.casefold(),
            drops.c.status.in_(OPEN_STATUSES),
        )
        if except_id is not None:
            query = query.where(drops.c.id != except_id)
        if (await connection.execute(query)).first() is not None:
            raise UserError(
                f"This server already has an open drop called **{name}**; pick another name or "
                "cancel that drop first."
            )

    async def get(self, guild_id: int, drop_id: int) -> Drop:
        async with self.database.read() as connection:
            return await self._get(connection, guild_id, drop_id)

    async def _get(self, connection: AsyncConnection, guild_id: int, drop_id: int) -> Drop:
        row = (
            await connection.execute(
                select(drops).where(drops.c.id == drop_id, drops.c.guild_id == guild_id)
            )
        ).first()
        if row is None:
            raise UserError("I can't find that drop in this server; pick one from the list.")
        return Drop.from_row(row)

    async def get_any(self, drop_id: int) -> Drop | None:
        """A drop by id whatever its server: for background work, never for a user's input."""
        async with self.database.read() as connection:
            row = (await connection.execute(select(drops).where(drops.c.id == drop_id))).first()
        return Drop.from_row(row) if row else None

    async def delete(self, drop_id: int) -> None:
        """Undo a create whose announcement could not be posted."""
        async with self.database.write() as connection:
            await connection.execute(drops.delete().where(drops.c.id == drop_id))

    async def resolve(self, guild_id: int, typed: str) -> Drop:
        """A drop from an option value: the id autocomplete fills in, or a name typed by hand."""
        typed = typed.strip()
        async with self.database.read() as connection:
            if typed.isdigit():
                row = (
                    await connection.execute(
                        select(drops).where(drops.c.id == int(typed), drops.c.guild_id == guild_id)
                    )
                ).first()
                if row is not None:
                    return Drop.from_row(row)
            rows = (
                await connection.execute(
                    select(drops)
                    .where(drops.c.guild_id == guild_id, drops.c.name_key == typed.casefold())
                    .order_by(drops.c.status.in_(OPEN_STATUSES).desc(), drops.c.id.desc())
                )
            ).all()
        if not rows:
            raise UserError(
                f"There is no drop called {typed!r} in this server; pick one from the list."
            )
        return Drop.from_row(rows[0])

    async def drops(self, guild_id: int, *, open_only: bool = False) -> list[Drop]:
        query = select(drops).where(drops.c.guild_id == guild_id)
        if open_only:
            query = query.where(drops.c.status.in_(OPEN_STATUSES))
        query = query.order_by(drops.c.status.in_(OPEN_STATUSES).desc(), drops.c.starts_at)
        async with self.database.read() as connection:
            return [Drop.from_row(row) for row in (await connection.execute(query)).all()]

    async def suggest(self, guild_id: int, typed: str, limit: int = 25) -> list[Drop]:
        """Autocomplete: this server's drops matching what was typed, open ones first."""
        needle = typed.strip().casefold()
        found = [drop for drop in await self.drops(guild_id) if needle in drop.name.casefold()]
        return found[:limit]

    async def update(self, guild_id: int, drop_id: int, **changes: Any) -> Drop:
        """Edit a drop; ``changes`` holds only what the manager gave."""
        now = utcnow()
        async with self.database.write() as connection:
            drop = await self._get(connection, guild_id, drop_id)
            if not drop.is_open:
                raise UserError(f"**{drop.name}** is {drop.status}; only open drops can be edited.")
            values: dict[str, Any] = {}
            if "name" in changes:
                values["name"] = clean_name(changes.pop("name"))
                values["name_key"] = values["name"].casefold()
                await self._check_name_free(connection, guild_id, values["name"], drop.id)
            if "starts_at" in changes:
                check_future(changes["starts_at"], now)
            if "stock" in changes:
                stock = changes.pop("stock")
                check_stock(stock)
                handed_out = drop.stock - drop.remaining
                if stock < handed_out:
                    raise UserError(
                        f"{handed_out} links are already out for **{drop.name}**; stock can't go "
                        f"below that."
                    )
                values.update(stock=stock, remaining=stock - handed_out)
            values.update(changes)
            if not values:
                raise UserError("Nothing to change: give at least one option to edit.")
            result = await connection.execute(
                drops.update()
                .where(drops.c.id == drop.id)
                .values(**values, updated_at=now)
                .returning(*drops.c)
            )
            return Drop.from_row(result.one())

    async def cancel(self, guild_id: int, drop_id: int) -> Drop:
        async with self.database.write() as connection:
            drop = await self._get(connection, guild_id, drop_id)
            if not drop.is_open:
                raise UserError(f"**{drop.name}** is already {drop.status}.")
            result = await connection.execute(
                drops.update()
                .where(drops.c.id == drop.id)
                .values(status="cancelled", updated_at=utcnow())
                .returning(*drops.c)
            )
            return Drop.from_row(result.one())

    async def mark_live(self, drop_id: int) -> Drop | None:
        """scheduled -> live at opening time; None if the drop was not scheduled (any more)."""
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    drops.update()
                    .where(drops.c.id == drop_id, drops.c.status == "scheduled")
                    .values(status="live", updated_at=utcnow())
                    .returning(*drops.c)
                )
            ).first()
        return Drop.from_row(row) if row else None

    async def record_announcement(
        self, drop_id: int, *, channel_id: int, message_id: int, event_id: int | None
    ) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                drops.update()
                .where(drops.c.id == drop_id)
                .values(channel_id=channel_id, message_id=message_id, event_id=event_id)
            )

    # --- waitlists ---------------------------------------------------------------------------
    async def join(
        self, guild_id: int, drop_id: int, user_id: int, display_name: str, member: Member
    ) -> tuple[Drop, Place]:
        """Put a fan on the waitlist (idempotent: joining again answers the existing place).

        Joins go through group commit (see joins.py), answered once their batch has committed.
        """
        return await self._joins.join(guild_id, drop_id, user_id, display_name, member)

    async def _place(self, connection: AsyncConnection, drop_id: int, user_id: int) -> Place | None:
        mine = (
            select(waitlist_entries.c.id)
            .where(waitlist_entries.c.drop_id == drop_id, waitlist_entries.c.user_id == user_id)
            .scalar_subquery()
        )
        ahead_or_me = (
            select(func.count())
            .where(waitlist_entries.c.drop_id == drop_id, waitlist_entries.c.id <= mine)
            .scalar_subquery()
        )
        total = select(func.count()).where(waitlist_entries.c.drop_id == drop_id).scalar_subquery()
        row = (await connection.execute(select(mine, ahead_or_me, total))).one()
        if row[0] is None:
            return None
        return Place(place=row[1], total=row[2])

    async def leave(self, guild_id: int, drop_id: int, user_id: int) -> Drop:
        async with self.database.write() as connection:
            drop = await self._get(connection, guild_id, drop_id)
            result = await connection.execute(
                waitlist_entries.delete().where(
                    waitlist_entries.c.drop_id == drop.id, waitlist_entries.c.user_id == user_id
                )
            )
            if result.rowcount == 0:
                raise UserError(f"You're not on the waitlist for **{drop.name}**.")
            return drop

    async def waitlist_count(self, drop_id: int) -> int:
        async with self.database.read() as connection:
            count = await connection.scalar(
                select(func.count()).where(waitlist_entries.c.drop_id == drop_id)
            )
        return int(count or 0)

    async def fan_entries(self, guild_id: int, user_id: int) -> list[FanEntry]:
        """Every drop in this server the fan is waitlisted for, with their place."""
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(drops, reminder_optins.c.user_id.label("reminder_user"))
                    .join(waitlist_entries, waitlist_entries.c.drop_id == drops.c.id)
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == drops.c.id,
                            reminder_optins.c.user_id == user_id,
                        ),
                    )
                    .where(
                        waitlist_entries.c.guild_id == guild_id,
                        waitlist_entries.c.user_id == user_id,
                    )
                    .order_by(drops.c.starts_at)
                )
            ).all()
            entries = []
            for row in rows:
                place = await self._place(connection, row.id, user_id)
                assert place is not None
                drop = Drop.from_row(row)
                entries.append(
                    FanEntry(drop, place.place, place.total, row.reminder_user is not None)
                )
        return entries

    async def toggle_reminder(self, guild_id: int, drop_id: int, user_id: int) -> tuple[Drop, bool]:
        """Flip the fan's reminder opt-in for this drop; returns whether it is now on."""
        async with self.database.write() as connection:
            drop = await self._get(connection, guild_id, drop_id)
            removed = await connection.execute(
                reminder_optins.delete().where(
                    reminder_optins.c.drop_id == drop.id, reminder_optins.c.user_id == user_id
                )
            )
            if removed.rowcount:
                return drop, False
            if not drop.is_open:
                raise UserError(f"**{drop.name}** is {drop.status}; there is nothing to remind.")
            await connection.execute(
                reminder_optins.insert().values(
                    drop_id=drop.id, user_id=user_id, guild_id=guild_id, created_at=utcnow()
                )
            )
            return drop, True

    async def export(self, guild_id: int, drop_id: int) -> tuple[Drop, list[ExportRow]]:
        async with self.database.read() as connection:
            drop = await self._get(connection, guild_id, drop_id)
            rows = (
                await connection.execute(
                    select(waitlist_entries, reminder_optins.c.user_id.label("reminder_user"))
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == waitlist_entries.c.drop_id,
                            reminder_optins.c.user_id == waitlist_entries.c.user_id,
                        ),
                    )
                    .where(waitlist_entries.c.drop_id == drop.id)
                    .order_by(waitlist_entries.c.id)
                )
            ).all()
        return drop, [
            ExportRow(
                place,
                row.user_id,
                row.display_name,
                row.joined_at,
                row.reminder_user is not None,
            )
            for place, row in enumerate(rows, start=1)
        ]
