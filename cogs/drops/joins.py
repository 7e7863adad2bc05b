"""Group commit for waitlist joins.

When a few thousand fans press Join in the same minute, one transaction per join makes the
database's single writer the bottleneck. Joins that arrive while a transaction is being written
wait for the next one, which takes them all at once: one drop lookup, one duplicate check, one
multi-row insert and one place computation per drop. Nobody is answered before the transaction
holding their entry has committed, so an acknowledged join survives a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, func, select

from bot.errors import UserError
from bot.localtime import utcnow
from storage.engine import Database
from storage.tables import drops, waitlist_entries

if TYPE_CHECKING:
    from cogs.drops.service import Drop, Member, Place

log = logging.getLogger("dropbell.joins")

MAX_BATCH = 500


@dataclass
class JoinRequest:
    guild_id: int
    drop_id: int
    user_id: int
    display_name: str
    member: Member
    future: asyncio.Future[tuple[Drop, Place]] = field(repr=False)


class JoinBatcher:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[JoinRequest] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0

    async def join(
        self, guild_id: int, drop_id: int, user_id: int, display_name: str, member: Member
    ) -> tuple[Drop, Place]:
        future: asyncio.Future[tuple[Drop, Place]] = asyncio.get_running_loop().create_future()
        self._pending.append(JoinRequest(guild_id, drop_id, user_id, display_name, member, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name="dropbell-join-batcher")
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    outcomes = await self.database.run_write(partial(write_batch, batch))
                except Exception as error:
                    log.exception("a batch of %d joins failed", len(batch))
                    outcomes = [error] * len(batch)
                self.batches += 1
                for request, outcome in zip(batch, outcomes, strict=True):
                    if request.future.done():
                        continue  # the fan's interaction was cancelled meanwhile
                    if isinstance(outcome, BaseException):
                        request.future.set_exception(outcome)
                    else:
                        request.future.set_result(outcome)
        finally:
            self._worker = None


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


def write_batch(
    batch: list[JoinRequest], connection: Connection
) -> list[tuple[Drop, Place] | BaseException]:
    """Store every acceptable join of the batch and work out everyone's place."""
    from cogs.drops.service import Drop, Place, unmet_requirement

    now = utcnow()
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

    outcomes: list[tuple[Drop, Place] | BaseException | None] = []
    new_rows: list[dict[str, object]] = []
    for request in batch:
        drop = by_id.get(request.drop_id)
        key = (request.drop_id, request.user_id)
        if drop is None or drop.guild_id != request.guild_id:
            outcomes.append(
                UserError("I can't find that drop in this server; pick one from the list.")
            )
        elif key in entry_ids:
            outcomes.append(None)  # joined before (or earlier in this batch): say where
        elif not drop.is_open:
            outcomes.append(UserError(f"**{drop.name}** is {drop.status}; its waitlist is closed."))
        elif (refusal := unmet_requirement(drop, request.member, now)) is not None:
            outcomes.append(UserError(refusal))
        else:
            entry_ids[key] = 0  # placeholder: a second click in the same batch is "already"
            outcomes.append(None)
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
    finished: list[tuple[Drop, Place] | BaseException] = []
    answered = set(entry_ids_before)
    for request, outcome in zip(batch, outcomes, strict=True):
        if outcome is not None:
            finished.append(outcome)
            continue
        key = (request.drop_id, request.user_id)
        place, total = places[key]
        finished.append((by_id[request.drop_id], Place(place, total, already=key in answered)))
        answered.add(key)
    return finished


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
