"""Group commit: requests that arrive while a transaction is being written wait for the next
one, which takes them all at once. Nobody is answered before the transaction holding their
request has committed, so an acknowledged request survives a crash.

``write(batch)`` runs one transaction for the whole batch and returns one outcome per request:
a result, or the exception that request's caller gets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.errors import LoggedFailure, new_error_id

Req = TypeVar("Req")
Out = TypeVar("Out")
MAX_BATCH = 500


@dataclass
class _Waiting(Generic[Req, Out]):
    request: Req
    future: asyncio.Future[Out]


class GroupCommit(Generic[Req, Out]):
    def __init__(
        self,
        write: Callable[[list[Req]], Awaitable[Sequence[Out | BaseException]]],
        what: str,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.write = write
        self.what = what
        self.on_batch = on_batch
        self.log = logging.getLogger(f"dropbell.{what}")  # dropbell.joins, dropbell.claims
        self._pending: list[_Waiting[Req, Out]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(request, future))
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
                try:
                    outcomes = await self.write([waiting.request for waiting in batch])
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
