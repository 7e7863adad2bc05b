"""A fan's collector profile in one server, aggregated by the database: drops joined and
bought, first purchase, the current streak, the tier, and whether others may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, case, exists, func, select, union

from storage.collector_tables import collector_profiles, collector_tiers
from storage.engine import Database
from storage.states import ClaimState, DropStatus
from storage.tables import claims, drops, waitlist_entries

# Drops that opened (a cancelled or still scheduled drop breaks no streak).
OPENED = (DropStatus.LIVE, DropStatus.CLOSED)


@dataclass(frozen=True)
class ProfileFacts:
    guild_id: int
    user_id: int
    drops_joined: int
    drops_bought: int
    first_purchase_at: datetime | None
    streak: int
    tier_name: str | None
    public: bool


class ProfileStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def facts(self, guild_id: int, user_id: int) -> ProfileFacts:
        on_or_claimed = union(
            select(waitlist_entries.c.drop_id).where(
                waitlist_entries.c.guild_id == guild_id, waitlist_entries.c.user_id == user_id
            ),
            select(claims.c.drop_id).where(
                claims.c.guild_id == guild_id, claims.c.user_id == user_id
            ),
        ).subquery()
        joined = select(func.count()).select_from(on_or_claimed).scalar_subquery()
        paid = and_paid(guild_id, user_id)
        bought = select(func.count()).where(*paid).scalar_subquery()
        first = select(func.min(claims.c.paid_at)).where(*paid).scalar_subquery()
        bought_it = exists().where(
            claims.c.drop_id == drops.c.id,
            claims.c.user_id == user_id,
            claims.c.state == ClaimState.PAID,
        )
        ranked = (
            select(
                case((bought_it, 1), else_=0).label("bought"),
                func.row_number()
                .over(order_by=(drops.c.starts_at.desc(), drops.c.id.desc()))
                .label("rank"),
            )
            .where(drops.c.guild_id == guild_id, drops.c.status.in_(OPENED))
            .subquery()
        )
        # The streak: opened drops, latest first, up to the first one they did not buy.
        streak = select(
            func.coalesce(func.min(case((ranked.c.bought == 0, ranked.c.rank))) - 1, func.count())
        ).scalar_subquery()
        profile = (
            select(collector_profiles.c.public, collector_tiers.c.name)
            .select_from(
                collector_profiles.outerjoin(
                    collector_tiers, collector_tiers.c.id == collector_profiles.c.tier_id
                )
            )
            .where(
                collector_profiles.c.guild_id == guild_id, collector_profiles.c.user_id == user_id
            )
        )
        async with self.database.read() as connection:
            counts = (await connection.execute(select(joined, bought, first, streak))).one()
            row = (await connection.execute(profile)).first()
        return ProfileFacts(
            guild_id=guild_id,
            user_id=user_id,
            drops_joined=counts[0],
            drops_bought=counts[1],
            first_purchase_at=counts[2],
            streak=counts[3],
            tier_name=None if row is None else row.name,
            public=bool(row is not None and row.public),
        )

    async def is_public(self, guild_id: int, user_id: int) -> bool:
        async with self.database.read() as connection:
            public = (
                await connection.execute(
                    select(collector_profiles.c.public).where(
                        collector_profiles.c.guild_id == guild_id,
                        collector_profiles.c.user_id == user_id,
                    )
                )
            ).scalar()
        return bool(public)

    async def toggle_public(self, guild_id: int, user_id: int, now: datetime) -> bool:
        """Flip whether others may see the fan's profile; the new setting."""

        def work(connection: Connection) -> bool:
            where = (
                collector_profiles.c.guild_id == guild_id,
                collector_profiles.c.user_id == user_id,
            )
            flipped = connection.execute(
                collector_profiles.update()
                .where(*where)
                .values(public=1 - collector_profiles.c.public, updated_at=now)
                .returning(collector_profiles.c.public)
            ).scalar()
            if flipped is not None:
                return bool(flipped)
            connection.execute(
                collector_profiles.insert().values(
                    guild_id=guild_id, user_id=user_id, public=1, updated_at=now
                )
            )
            return True

        return await self.database.run_write(work)


def and_paid(guild_id: int, user_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        claims.c.guild_id == guild_id,
        claims.c.user_id == user_id,
        claims.c.state == ClaimState.PAID,
    )
