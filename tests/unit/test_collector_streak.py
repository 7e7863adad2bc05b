"""The profile's streak (docs/measures.md) on small fixed histories, on a real database:
drops that sold something, latest first, counting those bought, up to the first one not
bought that is over. A waitlist-only drop, a cancelled or scheduled one, and the latest drop
while it is still selling break nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from storage.collector_profiles import ProfileStore
from storage.engine import Database
from storage.migrate import upgrade
from storage.tables import claim_links, claims, drops
from tests.databases import database_url

GUILD, FAN, OTHER = 1, 10, 11
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class D:
    """One drop of the history (oldest first) and what the fan did in it."""

    fan: str | None = "paid"  # the fan's claim: paid, refunded, expired, or None
    product: bool = True
    status: str = "closed"
    remaining: int = 3
    other_holds: bool = False  # another fan holds a unit (it may come back)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url(tmp_path / "streak.db"))
    await upgrade(database)
    yield database
    await database.dispose()


def insert(connection: Connection, history: list[D]) -> None:
    for index, drop in enumerate(history):
        at = START + timedelta(days=index)
        drop_id = connection.execute(
            drops.insert()
            .values(
                guild_id=GUILD, name=f"Drop {index}", name_key=f"drop {index}", starts_at=at,
                timezone="UTC", stock=5, remaining=drop.remaining, allocation="waitlist-order",
                status=drop.status, product="sandbox:price_x" if drop.product else None,
                created_by=99, created_at=at, updated_at=at,
            )
            .returning(drops.c.id)
        ).scalar_one()  # fmt: skip
        who = [(FAN, drop.fan)] if drop.fan else []
        who += [(OTHER, "held")] if drop.other_holds else []
        for user_id, state in who:
            link_id = connection.execute(
                claim_links.insert()
                .values(drop_id=drop_id, shop="sandbox", claim_ref=f"c{drop_id}-{user_id}",
                        link_ref=f"l{drop_id}-{user_id}", state="taken", created_at=at)
                .returning(claim_links.c.id)
            ).scalar_one()  # fmt: skip
            connection.execute(
                claims.insert().values(
                    drop_id=drop_id, guild_id=GUILD, user_id=user_id, display_name="fan",
                    link_id=link_id, state=state, claimed_at=at,
                    hold_until=at + timedelta(minutes=15), link_ended=1,
                    paid_at=at if state == "paid" else None,
                )
            )  # fmt: skip


LIVE = "live"
HISTORIES = {
    # (history oldest first, the streak worked out by hand)
    "all bought": ([D(), D(), D()], 3),
    "a closed drop not bought breaks it": ([D(), D(fan=None), D(), D()], 2),
    "a refund is not a purchase": ([D(), D(fan="refunded"), D()], 1),
    "a waitlist-only drop sold nothing": ([D(), D(fan=None, product=False), D()], 2),
    "cancelled and scheduled drops never opened": (
        [D(), D(fan=None, status="cancelled"), D(), D(fan=None, status="scheduled")],
        2,
    ),
    "the latest drop, still selling, not bought yet": ([D(), D(), D(fan=None, status=LIVE)], 2),
    "the latest drop bought while still live counts": ([D(), D(fan="paid", status=LIVE)], 2),
    "the latest drop sold out, not bought: over": (
        [D(), D(fan=None, status=LIVE, remaining=0)],
        0,
    ),
    "sold out but a hold may end: still selling": (
        [D(), D(fan="expired", status=LIVE, remaining=0, other_holds=True)],
        1,
    ),
    "a later drop opened: the live one before it is over": (
        [D(), D(fan=None, status=LIVE), D(status=LIVE)],
        1,
    ),
    "no drop bought": ([D(fan=None), D(fan=None, status=LIVE)], 0),
}


@pytest.mark.parametrize(("history", "streak"), HISTORIES.values(), ids=HISTORIES.keys())
async def test_the_streak_counts_drops_that_sold_something_and_are_over(
    database: Database, history: list[D], streak: int
) -> None:
    await database.run_write(lambda connection: insert(connection, history))
    facts = await ProfileStore(database).facts(GUILD, FAN)
    assert facts.streak == streak
    other = await ProfileStore(database).facts(GUILD, OTHER)  # held claims are not purchases
    assert other.streak == 0
