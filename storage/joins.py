"""The group-commit join writer: a whole batch of waitlist joins in one transaction.

It runs synchronously inside :meth:`Database.run_write` (one hop to the writer thread). Which
joins are refused, and with what sentence, is the caller's rule: it passes ``refuse``, and this
module only stores what was not refused and works out everyone's place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from storage.drops import Drop
from storage.tables import drops, waitlist_entries


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
# Rows come back matched by (drop_id, user_id), so no order is needed: that lets SQLAlchemy
# send one multi-row INSERT ... RETURNING instead of one INSERT per row.
_INSERT = waitlist_entries.insert().returning(_entries.id, _entries.drop_id, _entries.user_id)
_ahead = waitlist_entries.alias("ahead")
# The line from a given entry on, plus how many stand before it: every place in one query.
_LINE_FROM = (
    select(
        _entries.id,
        select(func.count())
        .select_from(_ahead)
        .where(_ahead.c.drop_id == bindparam("drop_id"), _ahead.c.id < bindparam("lowest"))
        .scalar_subquery()
        .label("before"),
    )
    .where(_entries.drop_id == bindparam("drop_id"), _entries.id >= bindparam("lowest"))
    .order_by(_entries.id)
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
            new_rows.append(
                {
                    "drop_id": drop.id,
                    "guild_id": request.guild_id,
                    "user_id": request.user_id,
                    "display_name": request.display_name[:100],
                    "joined_at": now,
                }
            )
    if new_rows:
        for row in connection.execute(_INSERT, new_rows):
            entry_ids[(row.drop_id, row.user_id)] = row.id

    places = _places(connection, {key: entry_ids[key] for key in keys if key in entry_ids})
    outcomes: list[Joined | BaseException] = []
    answered = set(entry_ids_before)
    for request, refusal in zip(batch, refusals, strict=True):
        if refusal is not None:
            outcomes.append(refusal)
            continue
        key = (request.drop_id, request.user_id)
        place, total = places[key]
        outcomes.append(Joined(by_id[request.drop_id], place, total, already=key in answered))
        answered.add(key)
    return outcomes


def _places(
    connection: Connection, entry_ids: dict[tuple[int, int], int]
) -> dict[tuple[int, int], tuple[int, int]]:
    """(place, total) for each (drop, user) given its entry id; one query per drop."""
    by_drop: dict[int, list[int]] = defaultdict(list)
    for (drop_id, _), entry_id in entry_ids.items():
        by_drop[drop_id].append(entry_id)
    rank: dict[int, int] = {}
    totals: dict[int, int] = {}
    for drop_id, ids in by_drop.items():
        line = connection.execute(_LINE_FROM, {"drop_id": drop_id, "lowest": min(ids)}).all()
        base = line[0].before
        for index, row in enumerate(line, start=1):
            rank[row.id] = base + index
        totals[drop_id] = base + len(line)
    return {key: (rank[entry_id], totals[key[0]]) for key, entry_id in entry_ids.items()}
