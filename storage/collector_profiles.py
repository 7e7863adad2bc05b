"""A fan's collector profile in one server, aggregated by the database: drops joined and
bought, first purchase, the current streak, the tier, and whether others may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, case, exists, func, not_, or_, select, union

from storage.collector_tables import collector_profiles, collector_tiers
from storage.engine import Database, insert_ignoring_duplicates
from storage.states import ClaimState, DropStatus
from storage.tables import claims, drops, waitlist_entries

# Drops that opened (a cancelled or still scheduled drop breaks no streak).
OPENED = (DropStatus.LIVE, DropStatus.CLOSED)
NO_BREAK = 2**31 - 1  # a rank past any server's number of drops


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
        # Units may still come the fan's way: live, with a unit free or a hold that may end.
        selling = and_(
            drops.c.status == DropStatus.LIVE,
            or_(
                drops.c.remaining > 0,
                exists().where(claims.c.drop_id == drops.c.id, claims.c.state == ClaimState.HELD),
            ),
        )
        ranked = (
            select(
                case((bought_it, 1), else_=0).label("bought"),
                case((selling, 1), else_=0).label("selling"),
                func.row_number()
                .over(order_by=(drops.c.starts_at.desc(), drops.c.id.desc()))
                .label("rank"),
            )
            .where(
                drops.c.guild_id == guild_id,
                drops.c.status.in_(OPENED),
                drops.c.product.is_not(None),  # a waitlist-only drop sold nothing
            )
            .subquery()
        )
        # The streak (docs/measures.md): drops that sold something, latest first, counting those
        # bought, up to the first one not bought that is over. Only the latest can be not over
        # yet (still selling: the fan may still buy); a later drop's opening ends the one before.
        first_break = (
            select(func.min(ranked.c.rank))
            .where(
                ranked.c.bought == 0,
                not_(and_(ranked.c.rank == 1, ranked.c.selling == 1)),
            )
            .correlate(None)  # its own pass over the drops, not the outer count's row
            .scalar_subquery()
        )
        streak = (
            select(func.count())
            .select_from(ranked)
            .where(ranked.c.bought == 1, ranked.c.rank < func.coalesce(first_break, NO_BREAK))
            .scalar_subquery()
        )
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
            # Made to exist first, ignoring a concurrent insert (a purchase's recount may be
            # inserting the same row): an UPDATE-then-INSERT would clash with it on PostgreSQL.
            connection.execute(
                insert_ignoring_duplicates(connection, collector_profiles).values(
                    guild_id=guild_id, user_id=user_id, public=0, updated_at=now
                )
            )
            flipped = connection.execute(
                collector_profiles.update()
                .where(*where)
                .values(public=1 - collector_profiles.c.public, updated_at=now)
                .returning(collector_profiles.c.public)
            ).scalar_one()
            return bool(flipped)

        return await self.database.run_write(work)


def and_paid(guild_id: int, user_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        claims.c.guild_id == guild_id,
        claims.c.user_id == user_id,
        claims.c.state == ClaimState.PAID,
    )
