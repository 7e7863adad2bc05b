"""Collector tiers (managers) and the queue of role changes they owe Discord.

Fans' counts and the changes they queue are in :mod:`storage.collector_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from storage.collector_counts import FORGET, RoleChangeState, realign
from storage.collector_tables import (
    collector_profiles,
    collector_tiers,
    manager_notices,
    role_changes,
)
from storage.engine import Database
from storage.records import Record


@dataclass(frozen=True)
class Tier(Record):
    id: int
    guild_id: int
    name: str
    role_id: int
    min_purchases: int
    disabled_reason: str | None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None


@dataclass(frozen=True)
class RoleChange(Record):
    id: int
    guild_id: int
    user_id: int
    role_id: int
    action: str  # grant | remove | forget (a removal; the row goes once done)
    attempts: int


@dataclass(frozen=True)
class TierConflict:
    """Why a tier cannot be set: its role or its threshold belongs to another tier."""

    other: Tier
    role_taken: bool


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


MISSING_PERMISSIONS = 50013


def missing_permission_key(role_id: int) -> str:
    return f"roles:missing-permission:{role_id}"


def role_deleted_key(role_id: int) -> str:
    return f"roles:deleted:{role_id}"


@dataclass(frozen=True)
class RoleNotice:
    """A notice for a server's managers about a tier role: Discord refused it for a missing
    permission, or it was deleted. Its ``key`` names its ``manager_notices`` row, written once
    it was delivered."""

    guild_id: int
    role_id: int
    deleted: bool  # the role was deleted (else: refused for a missing permission)
    tier_names: tuple[str, ...]

    @property
    def key(self) -> str:
        return (
            role_deleted_key(self.role_id) if self.deleted else missing_permission_key(self.role_id)
        )


class CollectorStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- tiers ------------------------------------------------------------------------------
    async def tiers(self, guild_id: int) -> list[Tier]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(collector_tiers)
                .where(collector_tiers.c.guild_id == guild_id)
                .order_by(collector_tiers.c.min_purchases)
            )
            return [Tier.from_row(row) for row in rows]

    async def enabled_tier_roles(self) -> dict[int, frozenset[int]]:
        """Every server's enabled tier roles (the collectors-first check's cache)."""
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(collector_tiers.c.guild_id, collector_tiers.c.role_id).where(
                    collector_tiers.c.disabled_reason.is_(None)
                )
            )
            found: dict[int, set[int]] = {}
            for guild_id, role_id in rows:
                found.setdefault(guild_id, set()).add(role_id)
        return {guild_id: frozenset(roles) for guild_id, roles in found.items()}

    async def set_tier(
        self,
        guild_id: int,
        name: str,
        role_id: int,
        min_purchases: int,
        by: int,
        now: datetime,
    ) -> tuple[Tier, int] | TierConflict:
        """Create or update the tier called ``name`` (case-insensitive), then realign every
        fan of the server: the tier and the role changes queued, or the conflict."""
        key = _name_key(name)

        def work(connection: Connection) -> tuple[Tier, int] | TierConflict:
            others = connection.execute(
                select(collector_tiers).where(
                    collector_tiers.c.guild_id == guild_id, collector_tiers.c.name_key != key
                )
            ).all()
            for other in others:
                if other.role_id == role_id or other.min_purchases == min_purchases:
                    return TierConflict(Tier.from_row(other), other.role_id == role_id)
            existing = connection.execute(
                select(collector_tiers.c.id, collector_tiers.c.role_id).where(
                    collector_tiers.c.guild_id == guild_id, collector_tiers.c.name_key == key
                )
            ).first()
            if existing is not None and existing.role_id != role_id:
                # The tier's role changes: its holders lose the old one before realigning.
                _release_tier(connection, guild_id, existing.id, now)
            values = {
                "name": " ".join(name.split()),
                "role_id": role_id,
                "min_purchases": min_purchases,
                "disabled_reason": None,
                "updated_at": now,
            }
            row = connection.execute(
                collector_tiers.update()
                .where(collector_tiers.c.guild_id == guild_id, collector_tiers.c.name_key == key)
                .values(**values)
                .returning(*collector_tiers.c)
            ).first()
            if row is None:
                row = connection.execute(
                    collector_tiers.insert()
                    .values(
                        guild_id=guild_id, name_key=key, created_by=by, created_at=now, **values
                    )
                    .returning(*collector_tiers.c)
                ).one()
            return Tier.from_row(row), realign(connection, guild_id, now)

        return await self.database.run_write(work)

    async def remove_tier(self, guild_id: int, name: str, now: datetime) -> Tier | None:
        key = _name_key(name)

        def work(connection: Connection) -> Tier | None:
            row = connection.execute(
                select(collector_tiers).where(
                    collector_tiers.c.guild_id == guild_id, collector_tiers.c.name_key == key
                )
            ).first()
            if row is None:
                return None
            _release_tier(connection, guild_id, row.id, now)
            connection.execute(collector_tiers.delete().where(collector_tiers.c.id == row.id))
            realign(connection, guild_id, now)
            return Tier.from_row(row)

        return await self.database.run_write(work)

    async def disable_role(
        self, guild_id: int, role_id: int, reason: str, now: datetime
    ) -> list[Tier]:
        """The role is gone in Discord: its tiers are disabled (their pending changes skipped)
        and fans realigned to the tiers left. The tiers disabled now."""

        def work(connection: Connection) -> list[Tier]:
            rows = connection.execute(
                collector_tiers.update()
                .where(
                    collector_tiers.c.guild_id == guild_id,
                    collector_tiers.c.role_id == role_id,
                    collector_tiers.c.disabled_reason.is_(None),
                )
                .values(disabled_reason=reason, updated_at=now)
                .returning(*collector_tiers.c)
            ).all()
            if not rows:
                return []
            of_role = (role_changes.c.guild_id == guild_id, role_changes.c.role_id == role_id)
            # A forgotten fan's removals of the deleted role (pending, or refused and waiting
            # for a fix that can no longer come) have nothing left to do.
            connection.execute(
                role_changes.delete().where(
                    *of_role,
                    role_changes.c.action == FORGET,
                    role_changes.c.state.in_((RoleChangeState.PENDING, RoleChangeState.FAILED)),
                )
            )
            connection.execute(
                role_changes.update()
                .where(*of_role, role_changes.c.state == RoleChangeState.PENDING)
                .values(state=RoleChangeState.SKIPPED, updated_at=now)
            )
            realign(connection, guild_id, now)
            return [Tier.from_row(row) for row in rows]

        return await self.database.run_write(work)

    # -- the queue --------------------------------------------------------------------------
    async def pending_round(self, per_guild: int, limit: int) -> list[RoleChange]:
        """The oldest pending changes, at most ``per_guild`` of each server, interleaved so one
        server's burst does not hold the others back."""
        rank = (
            func.row_number()
            .over(partition_by=role_changes.c.guild_id, order_by=role_changes.c.id)
            .label("rank")
        )
        pending = (
            select(role_changes, rank)
            .where(role_changes.c.state == RoleChangeState.PENDING)
            .subquery()
        )
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(pending)
                .where(pending.c.rank <= per_guild)
                .order_by(pending.c.rank, pending.c.id)
                .limit(limit)
            )
            return [RoleChange.from_row(row) for row in rows]

    async def finish(
        self, change_id: int, state: RoleChangeState, error_code: int | None, now: datetime
    ) -> None:
        def work(connection: Connection) -> None:
            retried = state == RoleChangeState.FAILED and error_code == MISSING_PERMISSIONS
            if state != RoleChangeState.PENDING and not retried:
                gone = connection.execute(
                    role_changes.delete().where(
                        role_changes.c.id == change_id, role_changes.c.action == FORGET
                    )
                )
                if gone.rowcount:
                    return
            connection.execute(
                role_changes.update()
                .where(role_changes.c.id == change_id)
                .values(
                    state=state,
                    error_code=error_code,
                    attempts=role_changes.c.attempts + 1,
                    updated_at=now,
                )
            )

        await self.database.run_write(work)

    # -- manager notices: a row per notice delivered (managers are told once) ----------------
    async def told(self, guild_id: int, key: str) -> bool:
        async with self.database.read() as connection:
            found = await connection.execute(
                select(manager_notices.c.key).where(
                    manager_notices.c.guild_id == guild_id, manager_notices.c.key == key
                )
            )
            return found.first() is not None

    async def record_told(self, guild_id: int, key: str, now: datetime) -> None:
        """The notice was delivered (recorded only then, so an undelivered one is owed)."""

        def work(connection: Connection) -> None:
            connection.execute(
                self.database.insert_ignoring_duplicates(manager_notices).values(
                    guild_id=guild_id, key=key, created_at=now
                )
            )

        await self.database.run_write(work)

    async def untold(self, guild_id: int, deleted_reason: str) -> list[RoleNotice]:
        """The server's notices owed and not delivered, worked out from what they are about
        (roles refused for a missing permission; tiers disabled with ``deleted_reason``), so
        nothing but the delivered notices needs a row."""
        tiers = await self.tiers(guild_id)
        async with self.database.read() as connection:
            refused = await connection.execute(
                select(role_changes.c.role_id)
                .where(
                    role_changes.c.guild_id == guild_id,
                    role_changes.c.state == RoleChangeState.FAILED,
                    role_changes.c.error_code == MISSING_PERMISSIONS,
                )
                .distinct()
                .order_by(role_changes.c.role_id)
            )
            refused_roles = list(refused.scalars())
            told = await connection.execute(
                select(manager_notices.c.key).where(manager_notices.c.guild_id == guild_id)
            )
            told_keys = set(told.scalars())

        def names(role_id: int) -> tuple[str, ...]:
            return tuple(t.name for t in tiers if t.role_id == role_id)

        deleted = sorted({t.role_id for t in tiers if t.disabled_reason == deleted_reason})
        owed = [RoleNotice(guild_id, role_id, False, names(role_id)) for role_id in refused_roles]
        owed += [RoleNotice(guild_id, role_id, True, names(role_id)) for role_id in deleted]
        return [notice for notice in owed if notice.key not in told_keys]

    async def guilds_owed_notices(self) -> list[int]:
        """Servers with a notice that may be owed (a refused change or a disabled tier)."""
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(role_changes.c.guild_id)
                .where(
                    role_changes.c.state == RoleChangeState.FAILED,
                    role_changes.c.error_code == MISSING_PERMISSIONS,
                )
                .union(
                    select(collector_tiers.c.guild_id).where(
                        collector_tiers.c.disabled_reason.is_not(None)
                    )
                )
            )
            return sorted(rows.scalars())

    async def retry_refused(self, guild_id: int, role_id: int, now: datetime) -> int:
        """A manager says the role can be managed now: changes Discord refused for missing
        permissions go back to pending, and a new refusal is reported again."""

        def work(connection: Connection) -> int:
            connection.execute(
                manager_notices.delete().where(
                    manager_notices.c.guild_id == guild_id,
                    manager_notices.c.key == missing_permission_key(role_id),
                )
            )
            return connection.execute(
                role_changes.update()
                .where(
                    role_changes.c.guild_id == guild_id,
                    role_changes.c.role_id == role_id,
                    role_changes.c.state == RoleChangeState.FAILED,
                    role_changes.c.error_code == MISSING_PERMISSIONS,
                )
                .values(state=RoleChangeState.PENDING, error_code=None, updated_at=now)
            ).rowcount

        return await self.database.run_write(work)


def _release_tier(connection: Connection, guild_id: int, tier_id: int, now: datetime) -> None:
    """Fans standing at this tier lose its (current) role and are marked for realignment."""
    old_role = connection.execute(
        select(collector_tiers.c.role_id).where(collector_tiers.c.id == tier_id)
    ).scalar_one()
    holders = and_(
        collector_profiles.c.guild_id == guild_id, collector_profiles.c.tier_id == tier_id
    )
    users = connection.execute(select(collector_profiles.c.user_id).where(holders)).scalars().all()
    if not users:
        return
    connection.execute(
        role_changes.insert().values(
            guild_id=guild_id,
            role_id=old_role,
            action="remove",
            state=RoleChangeState.PENDING,
            created_at=now,
            updated_at=now,
        ),
        [{"user_id": user_id} for user_id in users],
    )
    connection.execute(
        collector_profiles.update().where(holders).values(tier_id=None, updated_at=now)
    )
