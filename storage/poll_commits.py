"""The group-commit writer of poll commitments: a whole batch of presses in one transaction.

It runs synchronously inside :meth:`Database.run_write` (one hop to the writer thread). It keeps
each option's ``units`` and ``fans`` counters, appends the tally history, and, when the batch
takes a poll to its goal, sets ``goal_reached_at`` by a conditional UPDATE and writes the
goal's post as a scheduled send in the same transaction: the announcement exists exactly when
the goal was reached, once, whatever crashes afterwards (the scheduler posts it exactly once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, bindparam, select

from storage.polls import Poll, PollOption
from storage.schedule import ScheduledSend
from storage.states import SendKind, SendState
from storage.tables import (
    poll_commitments,
    poll_options,
    poll_tally_history,
    polls,
    scheduled_sends,
)


@dataclass(frozen=True)
class CommitRequest:
    guild_id: int
    poll_id: int
    option_idx: int
    user_id: int
    display_name: str
    quantity: int  # 0: withdraw


@dataclass(frozen=True)
class Committed:
    poll: Poll
    options: tuple[PollOption, ...]
    user_id: int
    option_idx: int
    quantity: int  # 0: withdrawn
    previous: int  # 0: none before
    mine: tuple[tuple[int, int], ...]  # the fan's (option index, quantity) after the batch


class PollGone(Exception):
    """No such poll in the fan's server."""


class PollClosed(Exception):
    def __init__(self, poll: Poll) -> None:
        super().__init__(poll.id)
        self.poll = poll


class NoSuchOption(Exception):
    def __init__(self, poll: Poll) -> None:
        super().__init__(poll.id)
        self.poll = poll


class NothingToWithdraw(Exception):
    def __init__(self, poll: Poll, option: PollOption) -> None:
        super().__init__(poll.id)
        self.poll, self.option = poll, option


# The goal's post, worded by the caller (storage words no sentence): (poll, units) -> text.
GoalText = Callable[[Poll, int], str]


@dataclass(frozen=True)
class BatchWritten:
    outcomes: list[Committed | BaseException]
    goal_sends: list[ScheduledSend]


_c = poll_commitments.c
# FOR UPDATE, in id order (nothing on SQLite): on PostgreSQL the polls' counters read here and
# written back below are this transaction's until it commits.
_POLLS = (
    select(polls)
    .where(polls.c.id.in_(bindparam("poll_ids", expanding=True)))
    .order_by(polls.c.id)
    .with_for_update()
)
_OPTIONS = select(poll_options).where(
    poll_options.c.poll_id.in_(bindparam("poll_ids", expanding=True))
)
_EXISTING = select(_c.poll_id, _c.option_idx, _c.user_id, _c.quantity).where(
    _c.poll_id.in_(bindparam("poll_ids", expanding=True)),
    _c.user_id.in_(bindparam("user_ids", expanding=True)),
)
_INSERT = poll_commitments.insert()
_UPDATE = (
    poll_commitments.update()
    .where(
        _c.poll_id == bindparam("p"),
        _c.option_idx == bindparam("o"),
        _c.user_id == bindparam("u"),
    )
    .values(quantity=bindparam("q"), committed_at=bindparam("at"), display_name=bindparam("n"))
)
_DELETE = poll_commitments.delete().where(
    _c.poll_id == bindparam("p"), _c.option_idx == bindparam("o"), _c.user_id == bindparam("u")
)
_COUNTERS = (
    poll_options.update()
    .where(poll_options.c.poll_id == bindparam("p"), poll_options.c.idx == bindparam("o"))
    .values(units=bindparam("units"), fans=bindparam("fans"))
)
_HISTORY = poll_tally_history.insert()

Key = tuple[int, int, int]  # poll, option, user


def write_commit_batch(
    batch: list[CommitRequest], goal_text: GoalText, now: datetime, connection: Connection
) -> BatchWritten:
    poll_ids = sorted({request.poll_id for request in batch})
    by_id = {
        row.id: Poll.from_row(row) for row in connection.execute(_POLLS, {"poll_ids": poll_ids})
    }
    options: dict[tuple[int, int], PollOption] = {
        (row.poll_id, row.idx): PollOption.from_row(row)
        for row in connection.execute(_OPTIONS, {"poll_ids": poll_ids})
    }
    user_ids = sorted({request.user_id for request in batch})
    before: dict[Key, int] = {
        (row.poll_id, row.option_idx, row.user_id): row.quantity
        for row in connection.execute(_EXISTING, {"poll_ids": poll_ids, "user_ids": user_ids})
    }
    now_held = dict(before)
    units = {key: option.units for key, option in options.items()}
    fans = {key: option.fans for key, option in options.items()}
    names: dict[Key, tuple[int, str]] = {}  # the fan's server and display name
    accepted: list[tuple[int, CommitRequest, int]] = []  # position, request, previous
    outcomes: list[Committed | BaseException | None] = []
    for position, request in enumerate(batch):
        poll = by_id.get(request.poll_id)
        if poll is None or poll.guild_id != request.guild_id:
            outcomes.append(PollGone(request.poll_id))
            continue
        if not poll.is_open:
            outcomes.append(PollClosed(poll))
            continue
        option_key = (poll.id, request.option_idx)
        if option_key not in options:
            outcomes.append(NoSuchOption(poll))
            continue
        key = (poll.id, request.option_idx, request.user_id)
        previous = now_held.get(key, 0)
        if request.quantity == 0 and previous == 0:
            outcomes.append(NothingToWithdraw(poll, options[option_key]))
            continue
        units[option_key] += request.quantity - previous
        fans[option_key] += (request.quantity > 0) - (previous > 0)
        now_held[key] = request.quantity
        names[key] = (request.guild_id, request.display_name[:100])
        accepted.append((position, request, previous))
        outcomes.append(None)

    _store_commitments(connection, before, now_held, names, now)
    changed = [
        key for key in options if units[key] != options[key].units or fans[key] != options[key].fans
    ]
    if changed:
        connection.execute(
            _COUNTERS,
            [{"p": p, "o": o, "units": units[(p, o)], "fans": fans[(p, o)]} for p, o in changed],
        )
        connection.execute(
            _HISTORY,
            [
                {"poll_id": p, "option_idx": o, "at": now, "units": units[(p, o)]}
                for p, o in changed
            ],
        )
    goal_sends = _reach_goals(connection, by_id, units, {p for p, _ in changed}, goal_text, now)

    after = {
        key: PollOption(
            option.poll_id, option.idx, option.name, option.price_cents, units[key], fans[key]
        )
        for key, option in options.items()
    }
    for position, request, previous in accepted:
        poll = by_id[request.poll_id]
        mine = tuple(
            sorted(
                (option_idx, quantity)
                for (poll_id, option_idx, user_id), quantity in now_held.items()
                if poll_id == poll.id and user_id == request.user_id and quantity > 0
            )
        )
        outcomes[position] = Committed(
            poll=poll,
            options=tuple(option for key, option in sorted(after.items()) if key[0] == poll.id),
            user_id=request.user_id,
            option_idx=request.option_idx,
            quantity=request.quantity,
            previous=previous,
            mine=mine,
        )
    assert all(outcome is not None for outcome in outcomes)
    return BatchWritten(cast(list[Committed | BaseException], outcomes), goal_sends)


def _store_commitments(
    connection: Connection,
    before: dict[Key, int],
    now_held: dict[Key, int],
    names: dict[Key, tuple[int, str]],
    now: datetime,
) -> None:
    inserts, updates, deletes = [], [], []
    # dict order is first-touch order: new rows go in in the order fans pressed, so the row id
    # orders fans by first commitment.
    for key, quantity in now_held.items():
        old = before.get(key, 0)
        if quantity == old:
            continue
        poll_id, option_idx, user_id = key
        guild_id, name = names[key]
        if old == 0:
            inserts.append(
                {
                    "poll_id": poll_id,
                    "option_idx": option_idx,
                    "guild_id": guild_id,
                    "user_id": user_id,
                    "display_name": name,
                    "quantity": quantity,
                    "committed_at": now,
                }
            )
        elif quantity == 0:
            deletes.append({"p": poll_id, "o": option_idx, "u": user_id})
        else:
            updates.append(
                {"p": poll_id, "o": option_idx, "u": user_id, "q": quantity, "at": now, "n": name}
            )
    if inserts:
        connection.execute(_INSERT, inserts)
    if updates:
        connection.execute(_UPDATE, updates)
    if deletes:
        connection.execute(_DELETE, deletes)


def _reach_goals(
    connection: Connection,
    by_id: dict[int, Poll],
    units: dict[tuple[int, int], int],
    touched: set[int],
    goal_text: GoalText,
    now: datetime,
) -> list[ScheduledSend]:
    sends = []
    for poll_id in sorted(touched):
        poll = by_id[poll_id]
        total = sum(count for (p, _), count in units.items() if p == poll_id)
        if poll.goal_reached_at is not None or total < poll.goal:
            continue
        # Conditional: the goal is reached once, even if two writers ever raced here.
        reached = connection.execute(
            polls.update()
            .where(polls.c.id == poll_id, polls.c.goal_reached_at.is_(None))
            .values(goal_reached_at=now)
        )
        if reached.rowcount != 1:
            continue
        row = connection.execute(
            scheduled_sends.insert()
            .values(
                guild_id=poll.guild_id,
                kind=SendKind.POLL_GOAL,
                channel_id=poll.channel_id,
                due_at=now,
                message=goal_text(poll, total),
                state=SendState.PENDING,
                created_at=now,
                updated_at=now,
            )
            .returning(*scheduled_sends.c)
        ).one()
        sends.append(ScheduledSend.from_row(row))
    return sends
