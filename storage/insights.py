"""The brand's measures (docs/measures.md), computed by the database: every figure below is an
aggregate or a window function over a server's rows, so nothing but one row per drop comes back
to Python (pre-order interest: storage/preorder_interest.py).

Portable SQL only (SQLite now, PostgreSQL next): medians by ``row_number``/``count`` windows,
and the one thing the two spell differently, seconds between two timestamps, compiled per
dialect by :class:`seconds_between`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    case,
    cast,
    func,
    select,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from storage.collector_tables import forgotten_counts
from storage.drops import Drop
from storage.engine import Database
from storage.records import Record
from storage.states import DropStatus
from storage.tables import (
    claims,
    drops,
    poll_commitments,
    poll_options,
    polls,
    waitlist_entries,
)

PAID = "paid"  # a purchase: paid and not refunded (a refund moves the claim to "refunded")
REFUNDED = "refunded"
OPENED = (DropStatus.LIVE, DropStatus.CLOSED)


class seconds_between(FunctionElement[float]):
    """``seconds_between(later, earlier)``: the seconds from ``earlier`` to ``later``."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between)
def _seconds_standard(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@dataclass(frozen=True)
class DropMeasures(Record):
    """One drop of the server's sequence (cancelled drops left out), with its measures."""

    drop_id: int
    name: str
    starts_at: datetime
    status: str
    position: int  # 1, 2, 3 … by starts_at
    next_drop_id: int | None
    # The funnel, forgotten fans' counts included.
    joined: int
    pressed: int
    paid: int
    refunded: int
    forgotten: int  # of ``joined``, fans who used /privacy forget since
    # The poll the drop was made from: its goal and the units committed (None: no poll).
    poll_goal: int | None
    poll_units: int | None
    # Retention: fans active in this drop, and how many of them were active in the next.
    active: int = 0
    retained: int = 0
    # The cohort whose first purchase was in this drop.
    cohort_size: int = 0
    cohort_repeaters: int = 0
    cohort_median_seconds: float | None = None


def _drop_sequence(guild_id: int) -> Any:
    """The server's drops in order (cancelled left out), each with its position and the next."""
    order = (drops.c.starts_at, drops.c.id)
    return (
        select(
            drops.c.id,
            drops.c.name,
            drops.c.starts_at,
            drops.c.status,
            func.row_number().over(order_by=order).label("position"),
            func.lead(drops.c.id).over(order_by=order).label("next_id"),
        )
        .where(drops.c.guild_id == guild_id, drops.c.status != DropStatus.CANCELLED)
        .cte("sequence")
    )


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    # An integer on every database (PostgreSQL's sum of integers is a bigint or numeric).
    return cast(func.sum(case((condition, 1), else_=0)), Integer)


def _funnel(guild_id: int, sequence: Any) -> Any:
    joined = (
        select(waitlist_entries.c.drop_id, func.count().label("n"))
        .where(waitlist_entries.c.drop_id.in_(select(sequence.c.id)))
        .group_by(waitlist_entries.c.drop_id)
        .subquery("joined")
    )
    pressed = (
        select(
            claims.c.drop_id,
            func.count().label("n"),
            _count_when(claims.c.state == PAID).label("paid"),
            _count_when(claims.c.state == REFUNDED).label("refunded"),
        )
        .where(claims.c.drop_id.in_(select(sequence.c.id)))
        .group_by(claims.c.drop_id)
        .subquery("pressed")
    )
    preordered = (
        select(
            polls.c.drop_id,
            func.max(polls.c.goal).label("goal"),
            func.sum(poll_options.c.units).label("units"),
        )
        .join(poll_options, poll_options.c.poll_id == polls.c.id)
        .where(polls.c.guild_id == guild_id, polls.c.drop_id.is_not(None))
        .group_by(polls.c.drop_id)
        .subquery("preordered")
    )
    gone = forgotten_counts
    return (
        select(
            sequence.c.id.label("drop_id"),
            sequence.c.name,
            sequence.c.starts_at,
            sequence.c.status,
            sequence.c.position,
            sequence.c.next_id.label("next_drop_id"),
            (func.coalesce(joined.c.n, 0) + func.coalesce(gone.c.joined, 0)).label("joined"),
            (func.coalesce(pressed.c.n, 0) + func.coalesce(gone.c.claimed, 0)).label("pressed"),
            (func.coalesce(pressed.c.paid, 0) + func.coalesce(gone.c.paid, 0)).label("paid"),
            (func.coalesce(pressed.c.refunded, 0) + func.coalesce(gone.c.refunded, 0)).label(
                "refunded"
            ),
            func.coalesce(gone.c.joined, 0).label("forgotten"),
            preordered.c.goal.label("poll_goal"),
            preordered.c.units.label("poll_units"),
        )
        .select_from(
            sequence.outerjoin(joined, joined.c.drop_id == sequence.c.id)
            .outerjoin(pressed, pressed.c.drop_id == sequence.c.id)
            .outerjoin(gone, gone.c.drop_id == sequence.c.id)
            .outerjoin(preordered, preordered.c.drop_id == sequence.c.id)
        )
        .order_by(sequence.c.position)
    )


def _retention(guild_id: int, sequence: Any) -> Any:
    """Per drop: fans active in it (joined its list, committed in its poll, or bought in it),
    and how many of them were active in the next drop.

    Each fan's active drops are numbered by position; a fan active in N is retained when their
    next active drop is at position N + 1 (``lead`` over the fan's drops). One sort, where a
    self-join of the active set would compare every pair of its rows.
    """
    in_sequence = select(sequence.c.id)
    active = union(
        select(waitlist_entries.c.drop_id, waitlist_entries.c.user_id).where(
            waitlist_entries.c.drop_id.in_(in_sequence)
        ),
        select(polls.c.drop_id, poll_commitments.c.user_id)
        .join(polls, polls.c.id == poll_commitments.c.poll_id)
        .where(polls.c.guild_id == guild_id, polls.c.drop_id.in_(in_sequence)),
        select(claims.c.drop_id, claims.c.user_id).where(
            claims.c.drop_id.in_(in_sequence), claims.c.state == PAID
        ),
    ).subquery("active")
    positioned = (
        select(
            sequence.c.id.label("drop_id"),
            sequence.c.position,
            func.lead(sequence.c.position)
            .over(partition_by=active.c.user_id, order_by=sequence.c.position)
            .label("next_active"),
        )
        .join(sequence, sequence.c.id == active.c.drop_id)
        .subquery("positioned")
    )
    return select(
        positioned.c.drop_id,
        func.count().label("active"),
        _count_when(positioned.c.next_active == positioned.c.position + 1).label("retained"),
    ).group_by(positioned.c.drop_id)


def _cohorts(guild_id: int, sequence: Any) -> Any:
    """Per drop: fans whose first purchase was in it, how many bought again in a later drop,
    and the median seconds from the first purchase to the second (by paid_at)."""
    purchases = (
        select(
            claims.c.user_id,
            claims.c.drop_id,
            claims.c.paid_at,
            func.row_number()
            .over(partition_by=claims.c.user_id, order_by=sequence.c.position)
            .label("nth"),
        )
        .join(sequence, sequence.c.id == claims.c.drop_id)
        .where(claims.c.guild_id == guild_id, claims.c.state == PAID)
        .cte("purchases")
    )
    fans = (
        select(
            purchases.c.user_id,
            func.max(case((purchases.c.nth == 1, purchases.c.drop_id))).label("first_drop"),
            func.max(case((purchases.c.nth == 1, purchases.c.paid_at))).label("first_paid"),
            func.max(case((purchases.c.nth == 2, purchases.c.paid_at))).label("second_paid"),
        )
        .where(purchases.c.nth <= 2)
        .group_by(purchases.c.user_id)
        .cte("cohort_fans")
    )
    gap = seconds_between(fans.c.second_paid, fans.c.first_paid)
    ranked = (
        select(
            fans.c.first_drop,
            gap.label("gap"),
            func.row_number().over(partition_by=fans.c.first_drop, order_by=gap).label("rank"),
            func.count().over(partition_by=fans.c.first_drop).label("gaps"),
        )
        .where(fans.c.second_paid.is_not(None))
        .subquery("ranked")
    )
    # The median: the middle gap, or the mean of the two middle ones (2 * rank between n and
    # n + 2 picks exactly those ranks, for odd and even n alike, without a division).
    medians = (
        select(ranked.c.first_drop, func.avg(ranked.c.gap).label("median"))
        .where(2 * ranked.c.rank >= ranked.c.gaps, 2 * ranked.c.rank <= ranked.c.gaps + 2)
        .group_by(ranked.c.first_drop)
        .subquery("medians")
    )
    sizes = (
        select(
            fans.c.first_drop,
            func.count().label("size"),
            func.count(fans.c.second_paid).label("repeaters"),
        )
        .group_by(fans.c.first_drop)
        .subquery("sizes")
    )
    return select(
        sizes.c.first_drop.label("drop_id"),
        sizes.c.size,
        sizes.c.repeaters,
        medians.c.median,
    ).select_from(sizes.outerjoin(medians, medians.c.first_drop == sizes.c.first_drop))


class InsightsStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def latest_opened(self, guild_id: int) -> Drop | None:
        """The server's drop that opened last (live or closed), by opening time."""
        query = (
            select(drops)
            .where(drops.c.guild_id == guild_id, drops.c.status.in_(OPENED))
            .order_by(drops.c.starts_at.desc(), drops.c.id.desc())
            .limit(1)
        )
        async with self.database.read() as connection:
            row = (await connection.execute(query)).first()
        return Drop.from_row(row) if row is not None else None

    async def measures(self, guild_id: int) -> list[DropMeasures]:
        """Every drop of the server (cancelled left out) in order, with all its measures: three
        queries in one read transaction."""
        sequence = _drop_sequence(guild_id)
        async with self.database.read() as connection:
            funnel = (await connection.execute(_funnel(guild_id, sequence))).all()
            retention = {
                row.drop_id: row
                for row in (await connection.execute(_retention(guild_id, sequence))).all()
            }
            cohorts = {
                row.drop_id: row
                for row in (await connection.execute(_cohorts(guild_id, sequence))).all()
            }
        measured = []
        for row in funnel:
            kept, cohort = retention.get(row.drop_id), cohorts.get(row.drop_id)
            measured.append(
                DropMeasures(
                    **row._mapping,
                    active=kept.active if kept else 0,
                    retained=kept.retained if kept and row.next_drop_id is not None else 0,
                    cohort_size=cohort.size if cohort else 0,
                    cohort_repeaters=cohort.repeaters if cohort else 0,
                    cohort_median_seconds=(
                        float(cohort.median) if cohort and cohort.median is not None else None
                    ),
                )
            )
        return measured
