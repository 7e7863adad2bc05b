"""A generated history for bench/insights_scale.py, written straight into the bot's database
with bulk inserts (one transaction, executemany): 20 drops, 10,000 fans, 60,000 waitlist
entries, 8,000 purchases among the claims, and a poll before every fourth drop.

The schema comes from the real migrations first; the rows go in through the bot's own tables
(storage/tables.py), so they look like the bot's own on SQLite and on PostgreSQL alike (the same
columns, timestamps in each database's form, claims with their links).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from bench.database import run_sync
from storage.engine import Database
from storage.migrate import upgrade
from storage.tables import (
    claim_links,
    claims,
    poll_commitments,
    poll_options,
    poll_tally_history,
    polls,
    waitlist_entries,
)
from storage.tables import (
    drops as drops_table,
)

FAN_BASE = 10**15  # generated fans' user ids: far from the sandbox's snowflakes
DROP_SPACING = timedelta(days=14)


@dataclass(frozen=True)
class History:
    drops: int
    fans: int
    entries: int
    claims: int
    purchases: int
    commitments: int
    tally_points: int
    latest_drop: str


async def migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


async def generate(
    url: str,
    guild_id: int,
    *,
    drops: int = 20,
    fans: int = 10_000,
    entries: int = 60_000,
    purchases: int = 8_000,
    seed: int = 13,
) -> History:
    """Write the history into the migrated database at ``url``."""
    return await run_sync(
        url, lambda connection: _write(connection, guild_id, drops, fans, entries, purchases, seed)
    )


def _write(
    connection: Connection,
    guild_id: int,
    drops: int,
    fans: int,
    entries: int,
    purchases: int,
    seed: int,
) -> History:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    first = now - DROP_SPACING * drops
    per_drop_entries = entries // drops
    per_drop_purchases = purchases // drops
    drop_ids: list[int] = []
    for n in range(drops):
        starts = first + DROP_SPACING * n
        drop_id = connection.execute(
            drops_table.insert().returning(drops_table.c.id),
            {
                "guild_id": guild_id, "name": f"History Tee {n + 1}",
                "name_key": f"history tee {n + 1}", "starts_at": starts, "timezone": "UTC",
                "stock": per_drop_purchases, "remaining": 0, "allocation": "waitlist-order",
                "status": "closed", "waitlist_size": per_drop_entries,
                "waitlist_seq": per_drop_entries, "created_by": 1,
                "created_at": starts - timedelta(days=7), "updated_at": starts,
            },
        ).scalar_one()  # fmt: skip
        drop_ids.append(drop_id)
    # A loyal core comes back often, most fans now and then: a sample weighted per fan.
    weights = [rng.paretovariate(1.2) for _ in range(fans)]
    entry_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    claim_rows: list[dict[str, Any]] = []
    claim_count = purchase_count = 0
    for n, drop_id in enumerate(drop_ids):
        starts = first + DROP_SPACING * n
        line = _weighted_sample(rng, weights, per_drop_entries)
        for seq, fan in enumerate(line, start=1):
            joined = starts - timedelta(minutes=rng.randrange(1, 7 * 24 * 60))
            entry_rows.append(
                {"drop_id": drop_id, "guild_id": guild_id, "user_id": FAN_BASE + fan,
                 "display_name": f"fan {fan}", "joined_at": joined, "seq": seq}
            )  # fmt: skip
        # Half again as many pressed Get my link as bought; a few refunds and expiries.
        pressers = line[: per_drop_purchases + per_drop_purchases // 2]
        for i, fan in enumerate(pressers):
            claim_count += 1
            claimed = starts + timedelta(seconds=rng.randrange(1, 1800))
            if i < per_drop_purchases:
                state: str = "paid"
                paid: datetime | None = claimed + timedelta(seconds=rng.randrange(30, 600))
                purchase_count += 1
            else:
                state, paid = ("refunded" if i % 10 == 0 else "expired"), None
            link_rows.append(
                {"drop_id": drop_id, "shop": "sandbox", "claim_ref": f"bench-{claim_count}",
                 "link_ref": f"cs_{claim_count}", "url": "https://shop.test/", "state": "taken",
                 "created_at": first}
            )  # fmt: skip
            claim_rows.append(
                {"drop_id": drop_id, "guild_id": guild_id, "user_id": FAN_BASE + fan,
                 "display_name": f"fan {fan}", "link_id": f"bench-{claim_count}",
                 "state": state, "claimed_at": claimed,
                 "hold_until": claimed + timedelta(minutes=15), "paid_at": paid}
            )  # fmt: skip
    connection.execute(waitlist_entries.insert(), entry_rows)
    connection.execute(claim_links.insert(), link_rows)
    # Each claim names its link by claim_ref until the ids the database gave the links are known.
    link_ids = dict(connection.execute(select(claim_links.c.claim_ref, claim_links.c.id)).all())
    for row in claim_rows:
        row["link_id"] = link_ids[row["link_id"]]
    connection.execute(claims.insert(), claim_rows)
    commitments, points = _polls(connection, rng, guild_id, drop_ids, first, fans)
    return History(
        drops=drops,
        fans=fans,
        entries=len(entry_rows),
        claims=claim_count,
        purchases=purchase_count,
        commitments=commitments,
        tally_points=points,
        latest_drop=f"History Tee {drops}",
    )


def _weighted_sample(rng: random.Random, weights: list[float], size: int) -> list[int]:
    """``size`` distinct fans, likelier the heavier their weight (Efraimidis-Spirakis)."""
    keyed = sorted(range(len(weights)), key=lambda fan: rng.random() ** (1 / weights[fan]))
    return keyed[-size:][::-1]


def _polls(
    connection: Connection,
    rng: random.Random,
    guild_id: int,
    drop_ids: list[int],
    first: datetime,
    fans: int,
) -> tuple[int, int]:
    """A 3-option poll before every fourth drop, 500 commitments each, with its tally history."""
    commitments = points = 0
    for n in range(3, len(drop_ids), 4):
        opened = first + DROP_SPACING * n - timedelta(days=10)
        poll_id = connection.execute(
            polls.insert().returning(polls.c.id),
            {
                "guild_id": guild_id, "question": f"Which colour for drop {n + 1}?",
                "goal": 1200, "closes_at": opened + timedelta(days=3), "timezone": "UTC",
                "channel_id": 1, "status": "closed", "drop_id": drop_ids[n], "created_by": 1,
                "created_at": opened, "closed_at": opened + timedelta(days=3),
            },
        ).scalar_one()  # fmt: skip
        totals = [0, 0, 0]
        rows: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for i, fan in enumerate(rng.sample(range(fans), 500)):
            option, quantity = i % 3, rng.randrange(1, 5)
            at = opened + timedelta(minutes=6 * i + 1)
            totals[option] += quantity
            rows.append(
                {"poll_id": poll_id, "option_idx": option, "guild_id": guild_id,
                 "user_id": FAN_BASE + fan, "display_name": f"fan {fan}", "quantity": quantity,
                 "committed_at": at}
            )  # fmt: skip
            history.append(
                {"poll_id": poll_id, "option_idx": option, "at": at, "units": totals[option]}
            )
        connection.execute(
            poll_options.insert(),
            [{"poll_id": poll_id, "idx": idx, "name": name, "units": totals[idx],
              "fans": len(rows[idx::3])}
             for idx, name in enumerate(("Moth Green", "Ash Grey", "Night Blue"))],
        )  # fmt: skip
        connection.execute(poll_commitments.insert(), rows)
        connection.execute(poll_tally_history.insert(), history)
        commitments += len(rows)
        points += len(history)
    return commitments, points
