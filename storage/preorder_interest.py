"""Pre-order interest (docs/measures.md): the poll a drop was made from, its options' units and
fans, and when the committed total first reached each quarter of the goal, computed by the
database from the tally history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, null, select

from storage.engine import Database
from storage.records import Record
from storage.states import PollStatus
from storage.tables import poll_options, poll_tally_history, polls

MILESTONES = (1, 2, 3, 4)  # quarters of the goal


@dataclass(frozen=True)
class OptionInterest(Record):
    idx: int
    name: str
    units: int
    fans: int


@dataclass(frozen=True)
class PreorderInterest:
    poll_id: int
    question: str
    goal: int
    status: PollStatus
    created_at: datetime
    closed_at: datetime | None
    options: tuple[OptionInterest, ...]
    # When the committed total first reached 25, 50, 75 and 100 % of the goal (None: not yet).
    reached: tuple[datetime | None, ...]
    tally_points: int

    @property
    def units(self) -> int:
        return sum(option.units for option in self.options)


class PreorderStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def preorder(self, guild_id: int, drop_id: int) -> PreorderInterest | None:
        """The poll the drop was made from, if any: its options' units and fans, and when the
        committed total first reached each quarter of the goal (from the tally history)."""
        async with self.database.read() as connection:
            poll = (
                await connection.execute(
                    select(polls)
                    .where(polls.c.guild_id == guild_id, polls.c.drop_id == drop_id)
                    .order_by(polls.c.id.desc())
                    .limit(1)
                )
            ).first()
            if poll is None:
                return None
            options = (
                await connection.execute(
                    select(
                        poll_options.c.idx,
                        poll_options.c.name,
                        poll_options.c.units,
                        poll_options.c.fans,
                    )
                    .where(poll_options.c.poll_id == poll.id)
                    .order_by(poll_options.c.idx)
                )
            ).all()
            reached = (await connection.execute(_milestones(poll.id, poll.goal))).one()
        return PreorderInterest(
            poll_id=poll.id,
            question=poll.question,
            goal=poll.goal,
            status=PollStatus(poll.status),
            created_at=poll.created_at,
            closed_at=poll.closed_at,
            options=tuple(OptionInterest.from_row(row) for row in options),
            reached=tuple(reached[i] for i in range(len(MILESTONES))),
            tally_points=reached.points,
        )


def _milestones(poll_id: int, goal: int) -> Any:
    """When the running total of all options first reached each quarter of ``goal``.

    The history holds each option's total after every change; the total over all options at a
    point is the running sum of each row's change from that option's previous row.
    """
    history = poll_tally_history
    change = history.c.units - func.coalesce(
        func.lag(history.c.units).over(partition_by=history.c.option_idx, order_by=history.c.id),
        0,
    )
    changes = (
        select(history.c.id, history.c.at, change.label("change"))
        .where(history.c.poll_id == poll_id)
        .subquery("changes")
    )
    totals = select(
        changes.c.at,
        func.sum(changes.c.change).over(order_by=changes.c.id).label("total"),
    ).subquery("totals")
    # 4 * total >= quarter * goal: no division, so no rounding either.
    reached = [
        func.min(case((4 * totals.c.total >= quarter * goal, totals.c.at), else_=null())).label(
            f"q{quarter}"
        )
        for quarter in MILESTONES
    ]
    return select(*reached, func.count().label("points")).select_from(totals)
