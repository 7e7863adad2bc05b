"""Polls: create, commit (group commit, like joins), close exactly once, results.

A fan's press is one request handed to :class:`~services.batching.GroupCommit`; the batch's one
transaction (``storage.poll_commits``) stores it, keeps the counters, and writes the goal's post
as a scheduled send when the batch reaches the goal. Closing is the poll's ``poll_close``
scheduled send: the schedule claims the row (once, across restarts), and :meth:`_close_send`
closes the poll and posts the results through a :class:`PollPoster` the cog implements.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from services.batching import GroupCommit
from services.drops.service import DropService
from services.errors import UserError
from services.localtime import utcnow
from services.polls import rules, wording
from services.polls.to_drop import PollDrops
from services.schedule.outbox import SendFailed
from services.schedule.render import marker_line
from services.schedule.service import ScheduleService
from storage.engine import Database
from storage.poll_commits import (
    BatchWritten,
    CommitRequest,
    Committed,
    NoSuchOption,
    NothingToWithdraw,
    PollClosed,
    PollGone,
    write_commit_batch,
)
from storage.polls import Commitment, Poll, PollOption, PollStore, TallyPoint
from storage.schedule import ScheduledSend
from storage.states import SendKind, SendState

log = logging.getLogger("dropbell.polls")

NO_SUCH_POLL = "I can't find that poll in this server; pick one from the list."


# /poll close when another process holds the closing's claim: how long its answer waits.
CLOSING_ELSEWHERE_CHECKS = 10
CLOSING_ELSEWHERE_CHECK_SECONDS = 0.25


class PollPoster(Protocol):
    async def post_results(self, poll: Poll, content: str) -> int:
        """Post the closing results (with the managers' Create drop button); the message id.
        Raises SendFailed."""
        ...


@dataclass(frozen=True)
class Results:
    poll: Poll
    options: list[PollOption]
    commitments: list[Commitment]
    history: list[TallyPoint]


class PollService:
    def __init__(
        self, database: Database, schedule: ScheduleService, drops: DropService, currency: str
    ) -> None:
        self.store = PollStore(database)
        self.to_drop = PollDrops(database, self.store, drops, schedule, currency)
        self.database = database
        self.schedule = schedule
        self.currency = currency
        self.poster: PollPoster | None = None  # set by the polls cog when it loads
        self._listeners: list[Callable[[int], None]] = []
        # Open polls' shape (question, options, prices: fixed once created) for the option
        # panel; their counts there are not shown. Dropped when the poll closes, and a press on
        # a stale panel is refused by the commit's own transaction anyway.
        self._shapes: dict[int, tuple[Poll, list[PollOption]]] = {}
        # Open polls' commitments per fan, loaded once per poll and kept by every batch this
        # process writes (the only writer): an option press then reads nothing.
        self._mine: dict[int, dict[int, tuple[tuple[int, int], ...]]] = {}
        self._loading: dict[int, asyncio.Future[None]] = {}
        self._batches: GroupCommit[CommitRequest, Committed] = GroupCommit(
            self._write, "poll commitments"
        )
        schedule.handlers[SendKind.POLL_CLOSE] = self._close_send

    # --- events ------------------------------------------------------------------------------
    def on_changed(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Listen to a poll's tally or state changing (keep it cheap: called on every batch)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, poll_id: int) -> None:
        for listener in list(self._listeners):
            listener(poll_id)

    # --- managers ----------------------------------------------------------------------------
    async def create(
        self,
        guild_id: int,
        created_by: int,
        channel_id: int,
        *,
        question: str,
        options: str,
        goal: int,
        closes_at: str,
        timezone: str,
    ) -> tuple[Poll, list[PollOption]]:
        spec = rules.validate(question, options, goal, closes_at, timezone, utcnow(), self.currency)
        poll, send = await self.store.create(
            options=[(option.name, option.price_cents) for option in spec.options],
            created_at=utcnow(),
            guild_id=guild_id,
            question=spec.question,
            goal=spec.goal,
            closes_at=spec.closes_at,
            timezone=spec.timezone,
            channel_id=channel_id,
            created_by=created_by,
        )
        self.schedule.jobs.schedule(send)
        return poll, await self.store.options(poll.id)

    async def posted(self, poll_id: int, message_id: int) -> None:
        await self.store.set_message(poll_id, message_id)

    async def delete(self, poll_id: int) -> None:
        """Undo a create whose post could not be made."""
        if (poll := await self.store.get_any(poll_id)) and poll.close_send_id:
            self.schedule.jobs.unschedule(poll.close_send_id)
        await self.store.delete(poll_id)

    async def get(self, guild_id: int, poll_id: int) -> Poll:
        poll = await self.store.get(guild_id, poll_id)
        if poll is None:
            raise UserError(NO_SUCH_POLL)
        return poll

    async def get_any(self, poll_id: int) -> Poll | None:
        return await self.store.get_any(poll_id)

    async def resolve(self, guild_id: int, typed: str) -> Poll:
        """A poll from an option value: the id autocomplete fills in, or its question."""
        typed = typed.strip()
        if typed.isdigit() and (found := await self.store.get(guild_id, int(typed))):
            return found
        for poll in await self.store.in_guild(guild_id):
            if poll.question.casefold() == typed.casefold():
                return poll
        raise UserError(NO_SUCH_POLL)

    async def suggest(self, guild_id: int, typed: str, limit: int = 25) -> list[Poll]:
        """Autocomplete: this server's polls matching what was typed, open ones first."""
        needle = typed.strip().casefold()
        found = [
            poll
            for poll in await self.store.in_guild(guild_id)
            if needle in poll.question.casefold()
        ]
        return found[:limit]

    async def options(self, poll_id: int) -> list[PollOption]:
        return await self.store.options(poll_id)

    async def close(self, guild_id: int, poll_id: int) -> Poll:
        """/poll close: the poll's closing send goes now, through the same claim as on time."""
        poll = await self.get(guild_id, poll_id)
        if not poll.is_open:
            raise UserError(wording.closed_sentence(poll))
        if poll.close_send_id is not None:
            await self.schedule.fire_now(poll.close_send_id)
        closed = await self.get(guild_id, poll_id)
        # Another process (its schedule, or its own /poll close) may hold the closing's claim
        # right now: then it closes the poll in a moment, and the answer waits for it a little.
        for _ in range(CLOSING_ELSEWHERE_CHECKS):
            if not closed.is_open or not await self._closing_elsewhere(closed):
                break
            await asyncio.sleep(CLOSING_ELSEWHERE_CHECK_SECONDS)
            closed = await self.get(guild_id, poll_id)
        if closed.is_open and await self._closing_elsewhere(closed):
            raise UserError(
                f"**{poll.question}** is being closed right now; its results will be posted in "
                "a moment."
            )
        if closed.is_open:
            raise UserError(
                f"I couldn't close **{poll.question}** just now (see the log); try again in a "
                "minute."
            )
        return closed

    async def _closing_elsewhere(self, poll: Poll) -> bool:
        """The poll's closing send is claimed (being sent) or done, though the poll reads open."""
        if poll.close_send_id is None:
            return False
        row = await self.schedule.sends.get(poll.close_send_id)
        return row is not None and row.state in (SendState.SENDING, SendState.SENT)

    async def _close_send(self, row: ScheduledSend) -> int | None:
        """The poll's closing, once its scheduled send is claimed: close, then post results."""
        poll = await self.store.by_close_send(row.id)
        if poll is None:
            return None  # the poll was deleted
        self._shapes.pop(poll.id, None)
        self._mine.pop(poll.id, None)
        await self.store.close(poll.id, utcnow())  # already closed after a crash: fine
        # Again: a panel that read the poll just before the closing may have cached it open.
        self._shapes.pop(poll.id, None)
        closed = await self.store.get_any(poll.id) or poll
        self._changed(poll.id)  # the post's buttons are disabled by the refresher
        if self.poster is None:
            raise SendFailed("the polls cog is not loaded", permanent=False)
        options = await self.store.options(poll.id)
        content = wording.results_text(closed, options, self.currency, marker_line(row.marker))
        return await self.poster.post_results(closed, content)

    async def results(self, guild_id: int, poll_id: int) -> Results:
        poll = await self.get(guild_id, poll_id)
        return Results(
            poll,
            await self.store.options(poll.id),
            await self.store.commitments(poll.id),
            await self.store.history(poll.id),
        )

    # --- fans --------------------------------------------------------------------------------
    async def panel(
        self, guild_id: int, poll_id: int, option_idx: int, user_id: int
    ) -> tuple[Poll, PollOption, list[PollOption], dict[int, int]]:
        """What an option button shows the fan: refused once the poll closed."""
        shape = self._shapes.get(poll_id)
        if shape is None or shape[0].guild_id != guild_id:
            found = await self.store.panel(guild_id, poll_id, user_id)
            if found is None:
                raise UserError(NO_SUCH_POLL)
            poll, options, mine = found
            if poll.is_open:
                self._shapes[poll_id] = (poll, options)
        else:
            # The hot path: the poll's shape and the fan's commitments from memory.
            poll, options = shape
            mine = dict(await self._mine_of(poll_id, user_id))
        if not poll.is_open:
            raise UserError(wording.closed_sentence(poll))
        option = next((option for option in options if option.idx == option_idx), None)
        if option is None:
            raise UserError(f"**{poll.question}** has no such option any more.")
        return poll, option, options, mine

    async def commit(
        self,
        guild_id: int,
        poll_id: int,
        option_idx: int,
        user_id: int,
        display_name: str,
        quantity: int,
    ) -> Committed:
        """Commit ``quantity`` (0 withdraws) of one option; answered once its batch committed."""
        if quantity not in (0, *rules.QUANTITIES):
            raise UserError("Pick a quantity from 1 to 5.")
        request = CommitRequest(guild_id, poll_id, option_idx, user_id, display_name, quantity)
        try:
            committed = await self._batches.submit(request)
        except PollGone:
            raise UserError(NO_SUCH_POLL) from None
        except PollClosed as error:
            raise UserError(wording.closed_sentence(error.poll)) from None
        except NoSuchOption as error:
            raise UserError(f"**{error.poll.question}** has no such option any more.") from None
        except NothingToWithdraw as error:
            raise UserError(f"You have nothing on **{error.option.name}** to withdraw.") from None
        return committed

    async def _write(
        self, batch: list[CommitRequest], wait: float | None
    ) -> list[Committed | BaseException]:
        written: BatchWritten = await self.database.run_write(
            partial(write_commit_batch, batch, wording.goal_text, utcnow()), wait
        )
        for outcome in written.outcomes:
            if isinstance(outcome, Committed) and outcome.poll.id in self._mine:
                self._mine[outcome.poll.id][outcome.user_id] = outcome.mine
        # Posted by the schedule, which claims the row first: once, even across a crash.
        for send in written.goal_sends:
            self.schedule.jobs.schedule(send)
        for poll_id in {request.poll_id for request in batch}:
            self._changed(poll_id)
        return written.outcomes

    def commitments_removed(self, poll_ids: Iterable[int]) -> None:
        """Another writer (``/privacy forget``) removed commitments of these open polls: their
        remembered commitments are read again on the next press, and their posts follow."""
        for poll_id in poll_ids:
            self._mine.pop(poll_id, None)
            self._changed(poll_id)

    async def _mine_of(self, poll_id: int, user_id: int) -> tuple[tuple[int, int], ...]:
        loading = self._loading.get(poll_id)
        if loading is None and poll_id not in self._mine:
            loading = asyncio.ensure_future(self._load_mine(poll_id))
            self._loading[poll_id] = loading
        if loading is not None:  # half-loaded answers nobody
            await asyncio.shield(loading)
        return self._mine.get(poll_id, {}).get(user_id, ())

    async def _load_mine(self, poll_id: int) -> None:
        try:
            # Batches written while this reads record their fans in ``known`` first; the
            # read only fills in fans no later batch touched.
            known: dict[int, tuple[tuple[int, int], ...]] = {}
            self._mine[poll_id] = known
            loaded: dict[int, dict[int, int]] = {}
            for row in await self.store.commitments(poll_id):
                loaded.setdefault(row.user_id, {})[row.option_idx] = row.quantity
            for user, held in loaded.items():
                known.setdefault(user, tuple(sorted(held.items())))
        except BaseException:
            self._mine.pop(poll_id, None)
            raise
        finally:
            self._loading.pop(poll_id, None)

    async def idle(self) -> None:
        await self._batches.idle()
