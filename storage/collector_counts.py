"""Fans' purchase counts and the tier role changes they owe Discord.

A fan's count is recomputed in the transaction of every purchase and refund
(:func:`recount_after_order`, called from :mod:`storage.orders`), and so are the role changes
that bring their roles in line with the highest enabled tier reached (:func:`realign`, also run
when tiers change): a ``role_changes`` row per grant or removal, worked off later at Discord's
pace (:mod:`services.collectors.queue`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select

from storage.collector_tables import collector_profiles, collector_tiers, role_changes
from storage.engine import insert_ignoring_duplicates
from storage.states import ClaimState
from storage.tables import claims


class RoleChangeState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # its tier's role was deleted meanwhile


# The action of a removal owed by /privacy forget (a removal to Discord). Its row is the last
# thing keyed by the forgotten fan, so it is deleted once done or given up, rather than kept
# as done; only a refusal for a missing permission stays (as failed), to be retried when a
# manager fixes the role (``retry_refused``).
FORGET = "forget"


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
