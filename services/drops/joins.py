"""Group commit for waitlist joins.

When a few thousand fans press Join in the same minute, one transaction per join makes the
database's single writer the bottleneck. Joins that arrive while a transaction is being written
wait for the next one, which takes them all at once (``storage.joins``, through
``services.batching.GroupCommit``). Nobody is answered before the transaction holding their
entry has committed, so an acknowledged join survives a crash.
"""

from __future__ import annotations

from functools import partial

from services import metrics
from services.batching import GroupCommit
from services.drops.rules import Member, unmet_requirement
from services.errors import UserError
from services.localtime import utcnow
from storage.drops import Drop
from storage.engine import Database
from storage.joins import Joined, JoinRequest, write_join_batch

NO_SUCH_DROP = "I can't find that drop in this server; pick one from the list."


def refuse_join(drop: Drop | None, request: JoinRequest) -> UserError | None:
    """Why this fan may not join this drop now, or None (the rule the batch writer applies)."""
    if drop is None:
        return UserError(NO_SUCH_DROP)
    if not drop.is_open:
        return UserError(f"**{drop.name}** is {drop.status}; its waitlist is closed.")
    member: Member = request.facts
    refusal = unmet_requirement(drop, member, utcnow())
    return UserError(refusal) if refusal is not None else None


class JoinBatcher:
    """Joins through group commit (``services.batching``), written by ``storage.joins``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._batches: GroupCommit[JoinRequest, Joined] = GroupCommit(
            self._write, "joins", on_batch=metrics.JOIN_BATCHES.inc
        )

    async def _write(
        self, batch: list[JoinRequest], wait: float | None
    ) -> list[Joined | BaseException]:
        return await self.database.run_write(
            partial(write_join_batch, batch, refuse_join, utcnow()), wait
        )

    async def join(self, request: JoinRequest) -> Joined:
        return await self._batches.submit(request)

    async def idle(self) -> None:
        """Wait until every join handed in so far is written (or has failed)."""
        await self._batches.idle()
