"""The group-commit join writer: a whole batch of waitlist joins in one transaction.

It runs synchronously inside :meth:`Database.run_write` (one hop to the writer thread). Which
joins are refused, and with what sentence, is the caller's rule: it passes ``refuse``, and this
module only stores what was not refused and works out everyone's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from storage.drops import Drop
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

# Built once: on the hot path, constructing statements costs more than SQLite running them.
_entries = waitlist_entries.c
_DROPS = select(drops).where(drops.c.id.in_(bindparam("drop_ids", expanding=True)))
# Two plain INs use the (drop_id, user_id) index; a row-value IN would scan the table.
_EXISTING = select(_entries.id, _entries.drop_id, _entries.user_id).where(
    _entries.drop_id.in_(bindparam("drop_ids", expanding=True)),
    _entries.user_id.in_(bindparam("user_ids", expanding=True)),
)
# One executemany: SQLite runs it as one prepared statement; places need no ids back.
_INSERT = waitlist_entries.insert()
_SEQ_OF = select(_entries.drop_id, _entries.user_id, _entries.seq).where(
    _entries.id.in_(bindparam("entry_ids", expanding=True))
)
# How many left before each given sequence number: the only count a place needs, and it is over
# departures (few), never over the line.
_LEFT_BEFORE = (
    select(func.count())
    .select_from(waitlist_departures)
    .where(
        waitlist_departures.c.drop_id == bindparam("drop_id"),
        waitlist_departures.c.seq < bindparam("seq"),
    )
)
_GROW = (
    drops.update()
    .where(drops.c.id == bindparam("grown_id"))
    .values(
        waitlist_size=drops.c.waitlist_size + bindparam("joined"),
        waitlist_seq=drops.c.waitlist_seq + bindparam("joined"),
    )
)


def write_join_batch(
    batch: list[JoinRequest], refuse: Refuse, now: datetime, connection: Connection
) -> list[Joined | BaseException]:
    """Store every join of the batch that is not refused; everyone's place, in batch order."""
    keys = {(request.drop_id, request.user_id) for request in batch}
    drop_ids = sorted({drop_id for drop_id, _ in keys})
    by_id = {
        row.id: Drop.from_row(row) for row in connection.execute(_DROPS, {"drop_ids": drop_ids})
    }
    existing = connection.execute(
        _EXISTING, {"drop_ids": drop_ids, "user_ids": sorted({user for _, user in keys})}
    )
    entry_ids: dict[tuple[int, int], int] = {
        (row.drop_id, row.user_id): row.id for row in existing if (row.drop_id, row.user_id) in keys
    }
    entry_ids_before = set(entry_ids)

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
        if drop is not None and key in entry_ids:
            refusals.append(None)  # joined before (or earlier in this batch): say where
            continue
        refusal = refuse(drop, request)
        if drop is None and refusal is None:
            refusal = LookupError(f"drop {request.drop_id} is not in guild {request.guild_id}")
        refusals.append(refusal)
        if refusal is None and drop is not None:
            entry_ids[key] = 0  # placeholder: a second click in the same batch is "already"
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
        connection.execute(_INSERT, new_rows)
        grown = [
            {"grown_id": drop_id, "joined": size[drop_id] - by_id[drop_id].waitlist_size}
            for drop_id in by_id
            if size[drop_id] != by_id[drop_id].waitlist_size
        ]
        connection.execute(_GROW, grown)
    earlier = [entry_ids[key] for key in entry_ids_before]
    places = _places(connection, placed, earlier)
    totals = size
    outcomes: list[Joined | BaseException] = []
    answered = set(entry_ids_before)
    for request, refusal in zip(batch, refusals, strict=True):
        if refusal is not None:
            outcomes.append(refusal)
            continue
        key = (request.drop_id, request.user_id)
        place = places[key]
        outcomes.append(
            Joined(by_id[request.drop_id], place, totals[request.drop_id], already=key in answered)
        )
        answered.add(key)
    return outcomes


def _places(
    connection: Connection, placed: dict[tuple[int, int], int], earlier: list[int]
) -> dict[tuple[int, int], int]:
    """Each fan's place: new joins were placed at the end of the line as they were written;
    a fan who joined before is at their sequence number minus the departures before it."""
    places = dict(placed)
    if earlier:
        for row in connection.execute(_SEQ_OF, {"entry_ids": earlier}):
            left = connection.execute(_LEFT_BEFORE, {"drop_id": row.drop_id, "seq": row.seq})
            places[(row.drop_id, row.user_id)] = row.seq - int(left.scalar_one())
    return places
