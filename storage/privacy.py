"""A fan's own rows in a server: read them all (``/privacy export``), or remove them all in one
transaction (``/privacy forget``) while every counter they fed stays true.

Which tables hold rows about a person is declared here, once; a test walks the metadata and
fails when a table with a ``user_id`` or ``created_by`` column is missing from these lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, exists, select

from storage.collector_counts import FORGET, RoleChangeState
from storage.collector_tables import (
    collector_profiles,
    collector_tiers,
    forgotten_counts,
    purchase_followups,
    role_changes,
)
from storage.engine import Database
from storage.states import OPEN_DROP_STATUSES, ClaimState, PollStatus
from storage.tables import (
    claims,
    dm_channels,
    dm_unreachable,
    drops,
    poll_commitments,
    poll_options,
    poll_tally_history,
    polls,
    reminder_deliveries,
    reminder_optins,
    scheduled_sends,
    waitlist_departures,
    waitlist_entries,
)

# Rows about a fan in one server (each has ``guild_id`` and ``user_id``).
FAN_TABLES: tuple[Table, ...] = (
    waitlist_entries,
    reminder_optins,
    reminder_deliveries,
    claims,
    poll_commitments,
    collector_profiles,
    role_changes,
    purchase_followups,
)
# The fan tables whose rows feed counters, removed by their own rules in forget_fan.
_WITH_RULES = {waitlist_entries.name, claims.name, poll_commitments.name, purchase_followups.name}
# Rows about a fan shared by every server the bot runs in (``user_id`` only): how to DM them.
GLOBAL_FAN_TABLES: tuple[Table, ...] = (dm_channels, dm_unreachable)
# Rows a manager created (``created_by``), with the column that names each.
CREATED_BY_TABLES: dict[Table, str] = {
    drops: "name",
    polls: "question",
    scheduled_sends: "kind",
    collector_tiers: "name",
}
# The id written over ``created_by`` on a forgotten manager's rows (no Discord id is 0).
NOBODY = 0


@dataclass(frozen=True)
class FanData:
    """Everything stored about one person in one server, as plain values."""

    rows: dict[str, list[dict[str, Any]]]  # table name -> the fan's rows (column -> value)
    shared: dict[str, list[dict[str, Any]]]  # dm_channels, dm_unreachable
    created: dict[str, list[dict[str, Any]]]  # table name -> [{"id", "<name column>"}]
    drop_names: dict[int, str]  # the drops the rows refer to


@dataclass(frozen=True)
class LiveHold:
    """Why a forget cannot run now: the fan holds a purchase link (or its end is under way)."""

    drop_name: str
    hold_until: datetime
    ending: bool  # the hold is over but its link is not yet ended at the shop


@dataclass(frozen=True)
class Forgotten:
    removed: dict[str, int]  # table name -> rows removed
    released: int  # rows created as a manager, now owned by nobody
    roles_queued: int  # role removals queued
    open_drops_left: tuple[int, ...]  # open drops whose line changed
    open_polls_left: tuple[int, ...]  # open polls whose tally changed
    dm_rows_kept: bool  # dm_channels/dm_unreachable kept: another server still knows the fan

    @property
    def total(self) -> int:
        return sum(self.removed.values())


@dataclass
class _Counts:
    joined: int = 0
    claimed: int = 0
    paid: int = 0
    refunded: int = 0


def _plain(row: Any, table: Table) -> dict[str, Any]:
    return {column.name: row._mapping[column.name] for column in table.columns}


def _of_fan(table: Table, guild_id: int, user_id: int) -> Any:
    return (table.c.guild_id == guild_id) & (table.c.user_id == user_id)


class PrivacyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def fan_data(self, guild_id: int, user_id: int) -> FanData:
        async with self.database.read() as connection:
            return await connection.run_sync(lambda sync: read_fan_data(sync, guild_id, user_id))

    async def forget(self, guild_id: int, user_id: int, now: datetime) -> Forgotten | LiveHold:
        return await self.database.run_write(
            lambda connection: forget_fan(connection, guild_id, user_id, now)
        )


def read_fan_data(connection: Connection, guild_id: int, user_id: int) -> FanData:
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in FAN_TABLES:
        found = connection.execute(
            select(table)
            .where(_of_fan(table, guild_id, user_id))
            .order_by(*table.primary_key.columns)
        ).all()
        rows[table.name] = [_plain(row, table) for row in found]
    shared = {
        table.name: [
            _plain(row, table)
            for row in connection.execute(select(table).where(table.c.user_id == user_id))
        ]
        for table in GLOBAL_FAN_TABLES
    }
    created: dict[str, list[dict[str, Any]]] = {}
    for table, name in CREATED_BY_TABLES.items():
        found = connection.execute(
            select(table.c.id, table.c[name])
            .where(table.c.guild_id == guild_id, table.c.created_by == user_id)
            .order_by(table.c.id)
        ).all()
        created[table.name] = [{"id": row[0], name: row[1]} for row in found]
    drop_ids = {
        row["drop_id"] for table_rows in rows.values() for row in table_rows if "drop_id" in row
    } | {row["next_drop_id"] for row in rows[purchase_followups.name] if row["next_drop_id"]}
    names = connection.execute(
        select(drops.c.id, drops.c.name).where(drops.c.id.in_(sorted(drop_ids)))
    ).all()
    return FanData(rows, shared, created, {row.id: row.name for row in names})


def live_hold(
    connection: Connection, guild_id: int, user_id: int, now: datetime
) -> LiveHold | None:
    """A claim the forget must wait for: a hold (its unit comes back only through the keeper)
    or an ended hold whose shop link is still to be ended (a late payment would match nothing)."""
    row = connection.execute(
        select(drops.c.name, claims.c.hold_until, claims.c.state)
        .join(drops, drops.c.id == claims.c.drop_id)
        .where(
            _of_fan(claims, guild_id, user_id),
            (claims.c.state == ClaimState.HELD)
            | ((claims.c.state == ClaimState.EXPIRED) & (claims.c.link_ended == 0)),
        )
        .order_by(claims.c.hold_until.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    ending = row.state != ClaimState.HELD or row.hold_until <= now
    return LiveHold(row.name, row.hold_until, ending)


def forget_fan(
    connection: Connection, guild_id: int, user_id: int, now: datetime
) -> Forgotten | LiveHold:
    """Every personal row of the fan in this server, gone in the caller's one transaction."""
    hold = live_hold(connection, guild_id, user_id, now)
    if hold is not None:
        return hold
    removed: Counter[str] = Counter()
    per_drop: dict[int, _Counts] = {}
    open_drops = _leave_lines(connection, guild_id, user_id, per_drop, removed)
    _remove_claims(connection, guild_id, user_id, per_drop, removed)
    _add_forgotten_counts(connection, per_drop)
    open_polls = _withdraw_commitments(connection, guild_id, user_id, now, removed)
    # The rest have no counter to keep: reminder opt-ins and deliveries, the profile, and every
    # earlier role change (the removals queued below replace them).
    for table in FAN_TABLES:
        if table.name in _WITH_RULES:
            continue
        removed[table.name] += connection.execute(
            table.delete().where(_of_fan(table, guild_id, user_id))
        ).rowcount
    released = sum(
        connection.execute(
            table.update()
            .where(table.c.guild_id == guild_id, table.c.created_by == user_id)
            .values(created_by=NOBODY)
        ).rowcount
        for table in CREATED_BY_TABLES
    )
    roles = _queue_role_removals(connection, guild_id, user_id, now)
    kept = _known_elsewhere(connection, guild_id, user_id)
    if not kept:
        for table in GLOBAL_FAN_TABLES:
            removed[table.name] += connection.execute(
                table.delete().where(table.c.user_id == user_id)
            ).rowcount
    return Forgotten(
        removed={name: count for name, count in removed.items() if count},
        released=released,
        roles_queued=roles,
        open_drops_left=tuple(sorted(open_drops)),
        open_polls_left=tuple(sorted(open_polls)),
        dm_rows_kept=kept,
    )


def _leave_lines(
    connection: Connection,
    guild_id: int,
    user_id: int,
    per_drop: dict[int, _Counts],
    removed: Counter[str],
) -> set[int]:
    """The waitlist's own leave rules on every line the fan is on (open or not): the entry goes,
    its sequence number becomes a departure, the line's size shrinks, so everyone behind moves
    up and places stay consecutive (storage.waitlists.WaitlistStore.remove does the same)."""
    entries = connection.execute(
        waitlist_entries.delete()
        .where(_of_fan(waitlist_entries, guild_id, user_id))
        .returning(waitlist_entries.c.drop_id, waitlist_entries.c.seq)
    ).all()
    for entry in entries:
        connection.execute(
            waitlist_departures.insert().values(drop_id=entry.drop_id, seq=entry.seq)
        )
        connection.execute(
            drops.update()
            .where(drops.c.id == entry.drop_id)
            .values(waitlist_size=drops.c.waitlist_size - 1)
        )
        per_drop.setdefault(entry.drop_id, _Counts()).joined += 1
    removed[waitlist_entries.name] += len(entries)
    if not entries:
        return set()
    still_open = connection.execute(
        select(drops.c.id).where(
            drops.c.id.in_([entry.drop_id for entry in entries]),
            drops.c.status.in_(OPEN_DROP_STATUSES),
        )
    ).scalars()
    return set(still_open)


def _remove_claims(
    connection: Connection,
    guild_id: int,
    user_id: int,
    per_drop: dict[int, _Counts],
    removed: Counter[str],
) -> None:
    """Claims go (no hold is live: checked first); what they counted stays per drop. A paid
    unit stays sold: ``drops.remaining`` is not touched."""
    mine = select(claims.c.id).where(_of_fan(claims, guild_id, user_id))
    removed[purchase_followups.name] += connection.execute(
        purchase_followups.delete().where(
            purchase_followups.c.claim_id.in_(mine) | _of_fan(purchase_followups, guild_id, user_id)
        )
    ).rowcount
    gone = connection.execute(
        claims.delete()
        .where(_of_fan(claims, guild_id, user_id))
        .returning(claims.c.drop_id, claims.c.state)
    ).all()
    for claim in gone:
        counts = per_drop.setdefault(claim.drop_id, _Counts())
        counts.claimed += 1
        counts.paid += claim.state == ClaimState.PAID
        counts.refunded += claim.state == ClaimState.REFUNDED
    removed[claims.name] += len(gone)


def _add_forgotten_counts(connection: Connection, per_drop: dict[int, _Counts]) -> None:
    c = forgotten_counts.c
    for drop_id, counts in sorted(per_drop.items()):
        added = asdict(counts)
        # Inside the forget's write transaction (SQLite: BEGIN IMMEDIATE), so nobody inserts
        # the row between this UPDATE and the INSERT.
        updated = connection.execute(
            forgotten_counts.update()
            .where(c.drop_id == drop_id)
            .values({name: c[name] + value for name, value in added.items()})
        ).rowcount
        if not updated:
            connection.execute(forgotten_counts.insert().values(drop_id=drop_id, **added))


def _withdraw_commitments(
    connection: Connection, guild_id: int, user_id: int, now: datetime, removed: Counter[str]
) -> set[int]:
    """An open poll's counters lose the fan's units, as a withdraw does (with a tally point);
    a closed poll keeps its final totals: only the fan's rows go."""
    rows = connection.execute(
        select(
            poll_commitments.c.poll_id,
            poll_commitments.c.option_idx,
            poll_commitments.c.quantity,
            polls.c.status,
        )
        .join(polls, polls.c.id == poll_commitments.c.poll_id)
        .where(_of_fan(poll_commitments, guild_id, user_id))
    ).all()
    touched: set[int] = set()
    for row in rows:
        if row.status != PollStatus.OPEN:
            continue
        option = (poll_options.c.poll_id == row.poll_id) & (poll_options.c.idx == row.option_idx)
        units = connection.execute(
            poll_options.update()
            .where(option)
            .values(units=poll_options.c.units - row.quantity, fans=poll_options.c.fans - 1)
            .returning(poll_options.c.units)
        ).scalar_one()
        connection.execute(
            poll_tally_history.insert().values(
                poll_id=row.poll_id, option_idx=row.option_idx, at=now, units=units
            )
        )
        touched.add(row.poll_id)
    removed[poll_commitments.name] += connection.execute(
        poll_commitments.delete().where(_of_fan(poll_commitments, guild_id, user_id))
    ).rowcount
    return touched


def _queue_role_removals(connection: Connection, guild_id: int, user_id: int, now: datetime) -> int:
    """One pending removal per collector role of the server; the role worker applies them at
    Discord's pace (a role the fan does not hold costs one harmless request) and deletes each
    row once done (``CollectorStore.finish``), so nothing keyed by the fan outlives the work."""
    role_ids = connection.execute(
        select(collector_tiers.c.role_id)
        .where(collector_tiers.c.guild_id == guild_id)
        .distinct()
        .order_by(collector_tiers.c.role_id)
    ).scalars()
    queued = [
        {
            "guild_id": guild_id,
            "user_id": user_id,
            "role_id": role_id,
            "action": FORGET,
            "state": RoleChangeState.PENDING,
            "created_at": now,
            "updated_at": now,
        }
        for role_id in role_ids
    ]
    if queued:
        connection.execute(role_changes.insert(), queued)
    return len(queued)


def _known_elsewhere(connection: Connection, guild_id: int, user_id: int) -> bool:
    """Whether another server still holds rows about the fan (and so may DM them)."""
    return any(
        connection.execute(
            select(exists().where(table.c.user_id == user_id, table.c.guild_id != guild_id))
        ).scalar()
        for table in FAN_TABLES
    )
