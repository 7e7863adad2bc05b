"""Group commit for waitlist joins.

When a few thousand fans press Join in the same minute, one transaction per join makes the
database's single writer the bottleneck. Joins that arrive while a transaction is being written
wait for the next one, which takes them all at once (``storage.joins``). Nobody is answered
before the transaction holding their entry has committed, so an acknowledged join survives a
crash.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from services import metrics
from services.drops.rules import Member, unmet_requirement
from services.errors import LoggedFailure, UserError, new_error_id
from services.localtime import utcnow
from storage.drops import Drop
from storage.engine import Database
from storage.joins import Joined, JoinRequest, write_join_batch

log = logging.getLogger("dropbell.joins")

MAX_BATCH = 500
NO_SUCH_DROP = "I can't find that drop in this server; pick one from the list."


@dataclass
class _Waiting:
    request: JoinRequest
    future: asyncio.Future[Joined]


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
    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None

    async def join(self, request: JoinRequest) -> Joined:
        future: asyncio.Future[Joined] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(request, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name="dropbell-join-batcher")
        return await future

    async def idle(self) -> None:
        """Wait until every join handed in so far is written (or has failed)."""
        while self._worker is not None:
            await asyncio.shield(self._worker)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                requests = [waiting.request for waiting in batch]
                try:
                    outcomes: list[Joined | BaseException] = await self.database.run_write(
                        partial(write_join_batch, requests, refuse_join, utcnow())
                    )
                except Exception:
                    # One fault, logged once; every fan of the batch gets the sentence and id.
                    error_id = new_error_id()
                    log.exception("error %s: a batch of %d joins failed", error_id, len(batch))
                    outcomes = [LoggedFailure(error_id)] * len(batch)
                metrics.JOIN_BATCHES.inc()
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    if waiting.future.done():
                        continue  # the fan's interaction was cancelled meanwhile
                    if isinstance(outcome, BaseException):
                        waiting.future.set_exception(outcome)
                    else:
                        waiting.future.set_result(outcome)
        finally:
            self._worker = None
