"""A generated history for bench/insights_scale.py, written straight into a SQLite file with
bulk inserts (one transaction, prepared statements): 20 drops, 10,000 fans, 60,000 waitlist
entries, 8,000 purchases among the claims, and a poll before every fourth drop.

The schema comes from the real migrations first; the rows look like the bot's own (the same
columns, timestamps in SQLAlchemy's SQLite format, claims with their links).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.engine import Database
from storage.migrate import upgrade

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


def _stamp(moment: datetime) -> str:
    """What SQLAlchemy's DateTime writes on SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def migrate(path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
    finally:
        await database.dispose()


def generate(
    path: Path,
    guild_id: int,
    *,
    drops: int = 20,
    fans: int = 10_000,
    entries: int = 60_000,
    purchases: int = 8_000,
    seed: int = 13,
) -> History:
    """Write the history into the migrated database at ``path``."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    first = now - DROP_SPACING * drops
    per_drop_entries = entries // drops
    per_drop_purchases = purchases // drops
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        drop_ids: list[int] = []
        for n in range(drops):
            starts = first + DROP_SPACING * n
            cursor = connection.execute(
                "INSERT INTO drops (guild_id, name, name_key, starts_at, timezone, stock, "
                "remaining, allocation, status, waitlist_size, waitlist_seq, created_by, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 'UTC', ?, 0, 'waitlist-order', "
                "'closed', ?, ?, 1, ?, ?)",
                (
                    guild_id, f"History Tee {n + 1}", f"history tee {n + 1}", _stamp(starts),
                    per_drop_purchases, per_drop_entries, per_drop_entries,
                    _stamp(starts - timedelta(days=7)), _stamp(starts),
                ),
            )  # fmt: skip
            assert cursor.lastrowid is not None
            drop_ids.append(cursor.lastrowid)
        # A loyal core comes back often, most fans now and then: a sample weighted per fan.
        weights = [rng.paretovariate(1.2) for _ in range(fans)]
        entry_rows, link_rows, claim_rows = [], [], []
        claim_count = purchase_count = 0
        for n, drop_id in enumerate(drop_ids):
            starts = first + DROP_SPACING * n
            line = _weighted_sample(rng, weights, per_drop_entries)
            for seq, fan in enumerate(line, start=1):
                joined = starts - timedelta(minutes=rng.randrange(1, 7 * 24 * 60))
                entry_rows.append(
                    (drop_id, guild_id, FAN_BASE + fan, f"fan {fan}", _stamp(joined), seq)
                )
            # Half again as many pressed Get my link as bought; a few refunds and expiries.
            pressers = line[: per_drop_purchases + per_drop_purchases // 2]
            for i, fan in enumerate(pressers):
                claim_count += 1
                claimed = starts + timedelta(seconds=rng.randrange(1, 1800))
                if i < per_drop_purchases:
                    state, paid = (
                        "paid",
                        _stamp(claimed + timedelta(seconds=rng.randrange(30, 600))),
                    )
                    purchase_count += 1
                else:
                    state, paid = ("refunded" if i % 10 == 0 else "expired"), None
                link_rows.append((drop_id, f"bench-{claim_count}", f"cs_{claim_count}"))
                claim_rows.append(
                    (drop_id, guild_id, FAN_BASE + fan, f"fan {fan}", claim_count, state,
                     _stamp(claimed), _stamp(claimed + timedelta(minutes=15)), paid)
                )  # fmt: skip
        connection.executemany(
            "INSERT INTO waitlist_entries (drop_id, guild_id, user_id, display_name, joined_at, "
            "seq) VALUES (?, ?, ?, ?, ?, ?)",
            entry_rows,
        )
        connection.executemany(
            "INSERT INTO claim_links (drop_id, shop, claim_ref, link_ref, url, state, created_at)"
            f" VALUES (?, 'sandbox', ?, ?, 'https://shop.test/', 'taken', '{_stamp(first)}')",
            link_rows,
        )
        # Links were inserted in claim order into an empty table: link id = claim number.
        connection.executemany(
            "INSERT INTO claims (drop_id, guild_id, user_id, display_name, link_id, state, "
            "claimed_at, hold_until, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            claim_rows,
        )
        commitments, points = _polls(connection, rng, guild_id, drop_ids, first, fans)
    connection.close()
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
    connection: sqlite3.Connection,
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
        cursor = connection.execute(
            "INSERT INTO polls (guild_id, question, goal, closes_at, timezone, channel_id, status,"
            " drop_id, created_by, created_at, closed_at) VALUES (?, ?, 1200, ?, 'UTC', 1, "
            "'closed', ?, 1, ?, ?)",
            (guild_id, f"Which colour for drop {n + 1}?", _stamp(opened + timedelta(days=3)),
             drop_ids[n], _stamp(opened), _stamp(opened + timedelta(days=3))),
        )  # fmt: skip
        poll_id = cursor.lastrowid
        totals = [0, 0, 0]
        rows, history = [], []
        for i, fan in enumerate(rng.sample(range(fans), 500)):
            option, quantity = i % 3, rng.randrange(1, 5)
            at = opened + timedelta(minutes=6 * i + 1)
            totals[option] += quantity
            rows.append((poll_id, option, guild_id, FAN_BASE + fan, f"fan {fan}", quantity,
                         _stamp(at)))  # fmt: skip
            history.append((poll_id, option, _stamp(at), totals[option]))
        connection.executemany(
            "INSERT INTO poll_options (poll_id, idx, name, units, fans) VALUES (?, ?, ?, ?, ?)",
            [(poll_id, idx, name, totals[idx], len(rows[idx::3]))
             for idx, name in enumerate(("Moth Green", "Ash Grey", "Night Blue"))],
        )  # fmt: skip
        connection.executemany(
            "INSERT INTO poll_commitments (poll_id, option_idx, guild_id, user_id, display_name,"
            " quantity, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.executemany(
            "INSERT INTO poll_tally_history (poll_id, option_idx, at, units) VALUES (?, ?, ?, ?)",
            history,
        )
        commitments += len(rows)
        points += len(history)
    return commitments, points
