"""Collector tiers, fans' purchase counts and the role changes they owe Discord.

A fan's count is recomputed in the transaction of every purchase and refund
(:func:`recount_after_order`, called from :mod:`storage.orders`), and so are the role changes
that bring their roles in line with the highest enabled tier reached: a ``role_changes`` row
per grant or removal, worked off later at Discord's pace (:mod:`services.collectors.queue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, select

from storage.collector_tables import (
    collector_profiles,
    collector_tiers,
    manager_notices,
    role_changes,
)
from storage.engine import Database, insert_ignoring_duplicates
from storage.records import Record
from storage.states import ClaimState
from storage.tables import claims


class RoleChangeState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # its tier's role was deleted meanwhile


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
    action: str  # grant | remove
    attempts: int


@dataclass(frozen=True)
class TierConflict:
    """Why a tier cannot be set: its role or its threshold belongs to another tier."""

    other: Tier
    role_taken: bool


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _target_tier() -> Any:
    """The id of the highest enabled tier a profile row has reached (a correlated subquery)."""
    return (
        select(collector_tiers.c.id)
        .where(
            collector_tiers.c.guild_id == collector_profiles.c.guild_id,
            collector_tiers.c.disabled_reason.is_(None),
            collector_tiers.c.min_purchases <= collector_profiles.c.purchases,
        )
        .order_by(collector_tiers.c.min_purchases.desc())
        .limit(1)
        .scalar_subquery()
    )


def realign(
    connection: Connection, guild_id: int, now: datetime, user_id: int | None = None
) -> int:
    """Bring fans' target tier in line with their counts and the enabled tiers; for each fan
    whose target changed, queue a grant of the new tier's role and the removal of the role of
    the tier they had (Discord allows ~10 role edits per 10 s per server: nothing is queued that
    changes nothing; ``_release_tier`` takes a removed tier's role back). Changes queued."""
    target = _target_tier()
    where = [
        collector_profiles.c.guild_id == guild_id,
        collector_profiles.c.tier_id.is_distinct_from(target),
    ]
    if user_id is not None:
        where.append(collector_profiles.c.user_id == user_id)
    changed = connection.execute(
        select(
            collector_profiles.c.user_id,
            collector_profiles.c.tier_id.label("had"),
            target.label("target"),
        ).where(*where)
    ).all()
    if not changed:
        return 0
    connection.execute(
        collector_profiles.update().where(*where).values(tier_id=target, updated_at=now)
    )
    roles = dict(
        connection.execute(
            select(collector_tiers.c.id, collector_tiers.c.role_id).where(
                collector_tiers.c.guild_id == guild_id, collector_tiers.c.disabled_reason.is_(None)
            )
        ).all()
    )
    queued = []
    for row in changed:
        if row.target in roles:
            queued.append({"user_id": row.user_id, "role_id": roles[row.target], "action": "grant"})
        if row.had in roles and roles[row.had] != roles.get(row.target):
            queued.append({"user_id": row.user_id, "role_id": roles[row.had], "action": "remove"})
    if queued:
        connection.execute(
            role_changes.insert().values(
                guild_id=guild_id, state=RoleChangeState.PENDING, created_at=now, updated_at=now
            ),
            queued,
        )
    return len(queued)


def recount_after_order(connection: Connection, claim_id: int, now: datetime) -> int:
    """A claim was paid or refunded: the fan's count of purchases in that server (paid, not
    refunded) and first purchase, then their tier roles. The role changes queued."""
    claim = connection.execute(
        select(claims.c.guild_id, claims.c.user_id).where(claims.c.id == claim_id)
    ).one()
    guild_id, user_id = claim.guild_id, claim.user_id
    profile = (collector_profiles.c.guild_id == guild_id, collector_profiles.c.user_id == user_id)
    # PostgreSQL: two webhooks for this fan (two drops) at once would each count only their own
    # paid claim (the other's is not committed yet) and the later write would lose a purchase,
    # or both would insert the first profile row. So the row is made to exist (a concurrent
    # insert makes this one wait, then do nothing) and locked before counting: the second
    # transaction counts once the first has committed, and sees its claim.
    connection.execute(
        insert_ignoring_duplicates(connection, collector_profiles).values(
            guild_id=guild_id, user_id=user_id, purchases=0, updated_at=now
        )
    )
    connection.execute(select(collector_profiles.c.user_id).where(*profile).with_for_update())
    count, first = connection.execute(
        select(func.count(), func.min(claims.c.paid_at)).where(
            claims.c.guild_id == guild_id,
            claims.c.user_id == user_id,
            claims.c.state == ClaimState.PAID,
        )
    ).one()
    connection.execute(
        collector_profiles.update()
        .where(*profile)
        .values(purchases=count, first_purchase_at=first, updated_at=now)
    )
    return realign(connection, guild_id, now, user_id)


MISSING_PERMISSIONS = 50013


def missing_permission_key(role_id: int) -> str:
    return f"roles:missing-permission:{role_id}"


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
            connection.execute(
                role_changes.update()
                .where(
                    role_changes.c.guild_id == guild_id,
                    role_changes.c.role_id == role_id,
                    role_changes.c.state == RoleChangeState.PENDING,
                )
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

    async def first_notice(self, guild_id: int, key: str, now: datetime) -> bool:
        """True the first time ``key`` is noted for this server (managers are told once)."""

        def work(connection: Connection) -> bool:
            inserted = connection.execute(
                self.database.insert_ignoring_duplicates(manager_notices).values(
                    guild_id=guild_id, key=key, created_at=now
                )
            )
            return inserted.rowcount == 1

        return await self.database.run_write(work)

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
