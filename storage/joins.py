"""The group-commit join writer: a whole batch of waitlist joins in one transaction.

It runs synchronously inside :meth:`Database.run_write` (one hop to the writer thread). Which
joins are refused, and with what sentence, is the caller's rule: it passes ``refuse``, and this
module only stores what was not refused and works out everyone's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from storage.drops import Drop
from storage.engine import DriverStatement
from storage.tables import drops, waitlist_departures, waitlist_entries


@dataclass
class JoinRequest:
    guild_id: int
    drop_id: int
    user_id: int
    display_name: str
    # Whatever the caller's ``refuse`` needs to judge the fan (entry requirements).
    facts: Any = field(repr=False)


@dataclass(frozen=True)
class Joined:
    drop: Drop
    place: int
    total: int
    already: bool = False


# ``refuse(drop, request)`` gives the reason not to store this join (None: store it); ``drop``
# is None when the request names no drop of its server.
Refuse = Callable[[Drop | None, JoinRequest], BaseException | None]

# Built once and run on the driver (``DriverStatement``): on the hot path, SQLAlchemy's
# execution of a statement costs several times what SQLite takes to run it.
_entries = waitlist_entries.c
_DROP_FIELDS = [field.name for field in fields(Drop)]
# FOR UPDATE: on PostgreSQL another process may be joining the same drop, and the counters are
# read here and written back below (SQLite renders no FOR UPDATE: its write transaction already
# holds the database's one write lock).
_DROP = DriverStatement(
    select(*(drops.c[name] for name in _DROP_FIELDS))
    .where(drops.c.id == bindparam("drop_id"))
    .with_for_update()
)
# The batch's fans already on a drop's line, through the (drop_id, user_id) index. One statement
# per size class (1, 2, 4, ... users; the rest of the list repeats the first user), so a batch
# runs one compiled statement however many fans it holds.
_EXISTING: dict[int, DriverStatement] = {}
_INSERT = DriverStatement(
    waitlist_entries.insert().values(
        {
            name: bindparam(name)
            for name in ("drop_id", "guild_id", "user_id", "display_name", "joined_at", "seq")
        }
    )
)
# How many left before a given sequence number: the only count a re-click's place needs, and
# it is over departures (few), never over the line.
_LEFT_BEFORE = DriverStatement(
    select(func.count())
    .select_from(waitlist_departures)
    .where(
        waitlist_departures.c.drop_id == bindparam("drop_id"),
        waitlist_departures.c.seq < bindparam("seq"),
    )
)
_GROW = DriverStatement(
    drops.update()
    .where(drops.c.id == bindparam("grown_id"))
    .values(
        waitlist_size=drops.c.waitlist_size + bindparam("joined"),
        waitlist_seq=drops.c.waitlist_seq + bindparam("joined"),
    )
)


def _existing(connection: Connection, drop_id: int, users: list[int]) -> dict[int, int]:
    """The sequence number of each of ``users`` already on the drop's line."""
    size = 1 << (len(users) - 1).bit_length()
    statement = _EXISTING.get(size)
    if statement is None:
        statement = _EXISTING[size] = DriverStatement(
            select(_entries.user_id, _entries.seq).where(
                _entries.drop_id == bindparam("drop_id"),
                _entries.user_id.in_([bindparam(f"user_{i}") for i in range(size)]),
            )
        )
    params: dict[str, int] = {f"user_{i}": users[0] for i in range(size)}
    params.update((f"user_{i}", user) for i, user in enumerate(users))
    params["drop_id"] = drop_id
    return {user_id: seq for user_id, seq in statement.rows(connection, params)}


def write_join_batch(
    batch: list[JoinRequest], refuse: Refuse, now: datetime, connection: Connection
) -> list[Joined | BaseException]:
    """Store every join of the batch that is not refused; everyone's place, in batch order."""
    users_of: dict[int, list[int]] = {}
    for request in batch:
        users_of.setdefault(request.drop_id, []).append(request.user_id)
    by_id: dict[int, Drop] = {}
    # (drop_id, user_id) -> sequence number of every fan of the batch already on the line.
    seq_of: dict[tuple[int, int], int] = {}
    # In drop id order: two processes locking the same drops never wait on each other in a circle.
    for drop_id, users in sorted(users_of.items()):
        for row in _DROP.rows(connection, {"drop_id": drop_id}):
            by_id[drop_id] = Drop(*row)
        if drop_id in by_id:
            unique = list(dict.fromkeys(users))
            for user_id, seq in _existing(connection, drop_id, unique).items():
                seq_of[drop_id, user_id] = seq
    before = set(seq_of)

    refusals: list[BaseException | None] = []
    new_rows: list[dict[str, object]] = []
    # New joins go to the end of their line: sequence numbers and places follow the counters.
    next_seq = {drop_id: drop.waitlist_seq for drop_id, drop in by_id.items()}
    size = {drop_id: drop.waitlist_size for drop_id, drop in by_id.items()}
    placed: dict[tuple[int, int], int] = {}
    for request in batch:
        drop = by_id.get(request.drop_id)
        if drop is not None and drop.guild_id != request.guild_id:
            drop = None
        key = (request.drop_id, request.user_id)
        if drop is not None and (key in seq_of or key in placed):
            refusals.append(None)  # joined before (or earlier in this batch): say where
            continue
        refusal = refuse(drop, request)
        if drop is None and refusal is None:
            refusal = LookupError(f"drop {request.drop_id} is not in guild {request.guild_id}")
        refusals.append(refusal)
        if refusal is None and drop is not None:
            next_seq[drop.id] += 1
            size[drop.id] += 1
            placed[key] = size[drop.id]
            new_rows.append(
                {
                    "drop_id": drop.id,
                    "guild_id": request.guild_id,
                    "user_id": request.user_id,
                    "display_name": request.display_name[:100],
                    "joined_at": now,
                    "seq": next_seq[drop.id],
                }
            )
    if new_rows:
        _INSERT.run(connection, new_rows)
        grown = [
            {"grown_id": drop_id, "joined": size[drop_id] - by_id[drop_id].waitlist_size}
            for drop_id in by_id
            if size[drop_id] != by_id[drop_id].waitlist_size
        ]
        _GROW.run(connection, grown)
    places = _places(connection, placed, seq_of)
    outcomes: list[Joined | BaseException] = []
    answered = set(before)
    for request, refusal in zip(batch, refusals, strict=True):
        if refusal is not None:
            outcomes.append(refusal)
            continue
        key = (request.drop_id, request.user_id)
        outcomes.append(
            Joined(by_id[request.drop_id], places[key], size[request.drop_id], key in answered)
        )
        answered.add(key)
    return outcomes


def _places(
    connection: Connection, placed: dict[tuple[int, int], int], seq_of: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    """Each fan's place: new joins were placed at the end of the line as they were written;
    a fan who joined before is at their sequence number minus the departures before it."""
    places = dict(placed)
    for (drop_id, user_id), seq in seq_of.items():
        ((left,),) = _LEFT_BEFORE.rows(connection, {"drop_id": drop_id, "seq": seq})
        places[drop_id, user_id] = seq - int(left)
    return places
