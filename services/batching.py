"""Group commit: requests that arrive while a transaction is being written wait for the next
one, which takes them all at once. Nobody is answered before the transaction holding their
request has committed, so an acknowledged request survives a crash.

``write(batch, wait)`` runs one transaction for the whole batch and returns one outcome per
request: a result, or the exception that request's caller gets. ``wait`` is how long the
transaction may wait for the database's write lock: what is left of ``answer_within`` for the
batch's oldest request (fans must be answered within Discord's 3 s, even if only with "try
again"); a write that cannot begin in time raises ``DatabaseBusy``, nothing written, and
everyone in the batch is told to try again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.errors import LoggedFailure, UserError, new_error_id
from storage.engine import DatabaseBusy

Req = TypeVar("Req")
Out = TypeVar("Out")
MAX_BATCH = 500
# A fan's press: the time its write may take to begin, leaving the rest of Discord's 3 s for
# the answer itself on a loaded machine.
FAN_ANSWER_WITHIN = 2.0
BUSY_SENTENCE = (
    "I'm very busy for a moment and saved nothing, so please press again in a few seconds."
)


@dataclass
class _Waiting(Generic[Req, Out]):
    request: Req
    future: asyncio.Future[Out]
    arrived: float


class GroupCommit(Generic[Req, Out]):
    def __init__(
        self,
        write: Callable[[list[Req], float | None], Awaitable[Sequence[Out | BaseException]]],
        what: str,
        on_batch: Callable[[], None] | None = None,
        answer_within: float | None = FAN_ANSWER_WITHIN,
    ) -> None:
        self.write = write
        self.answer_within = answer_within
        self.what = what
        self.on_batch = on_batch
        self.log = logging.getLogger(f"dropbell.{what}")  # dropbell.joins, dropbell.claims
        self._pending: list[_Waiting[Req, Out]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append(_Waiting(request, future, loop.time()))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name=f"dropbell-{self.what}")
        return await future

    async def idle(self) -> None:
        """Wait until every request handed in so far is written (or has failed)."""
        while self._worker is not None:
            await asyncio.shield(self._worker)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                wait = None
                if self.answer_within is not None:
                    age = asyncio.get_running_loop().time() - batch[0].arrived
                    wait = max(0.0, self.answer_within - age)
                try:
                    outcomes = await self.write([waiting.request for waiting in batch], wait)
                except DatabaseBusy:
                    # Another process holds the database (a backup, a long manual query):
                    # nothing was written; a clear answer now beats none in 3 s.
                    self.log.warning("database busy: %d %s: try again", len(batch), self.what)
                    outcomes = [UserError(BUSY_SENTENCE)] * len(batch)
                except Exception:
                    # One fault, logged once; everyone in the batch gets the sentence and id.
                    error_id = new_error_id()
                    self.log.exception(
                        "error %s: a batch of %d %s failed", error_id, len(batch), self.what
                    )
                    outcomes = [LoggedFailure(error_id)] * len(batch)
                if self.on_batch is not None:
                    self.on_batch()
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    if waiting.future.done():
                        continue  # the caller was cancelled meanwhile
                    if isinstance(outcome, BaseException):
                        waiting.future.set_exception(outcome)
                    else:
                        waiting.future.set_result(outcome)
        finally:
            self._worker = None
