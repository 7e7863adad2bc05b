"""A drop made from a closed poll: the winning option becomes the drop, and its waitlist starts
with the fans who committed, in order of first commitment.

The drop's row, the poll's "made into this drop" and the whole pre-filled waitlist are one
transaction, written before the announcement goes out: no fan pressing Join on the new post can
get ahead of the committed fans, and a crash leaves either nothing (the poll free to try again)
or the drop with its whole line. The waitlist is filled through the join writer
(``storage.joins.write_join_batch``), so places, sequence numbers and the line's counters are
exactly as if each fan had pressed Join in that order. Nobody is opted in to the new drop's
reminders by this; once the post is up, the committed fans who opted in to reminders in this
server get one DM saying they are on the line (``SendKind.POLL_DROP``), the others see it in
/waitlist status.
"""

from __future__ import annotations

from typing import Any

from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.errors import UserError
from services.localtime import parse_local, utcnow
from services.polls.rules import price_text
from services.polls.wording import winner
from services.schedule.service import ScheduleService
from storage.drops import Drop
from storage.engine import Database
from storage.joins import JoinRequest
from storage.polls import Poll, PollStore, take_and_prefill
from storage.states import SendKind


def _only_open(drop: Drop | None, _request: JoinRequest) -> UserError | None:
    if drop is None or not drop.is_open:
        return UserError("That drop is not open any more.")
    return None


class PollDrops:
    def __init__(
        self,
        database: Database,
        store: PollStore,
        drops: DropService,
        schedule: ScheduleService,
        currency: str,
    ):
        self.database = database
        self.store = store
        self.drops = drops
        self.schedule = schedule
        self.currency = currency

    async def check(self, guild_id: int, poll_id: int) -> Poll:
        """The poll a drop may be made from now, or the sentence why not."""
        poll = await self.store.get(guild_id, poll_id)
        if poll is None:
            raise UserError("I can't find that poll in this server.")
        if poll.is_open:
            raise UserError(f"**{poll.question}** is still open; close it with /poll close first.")
        if poll.drop_id is not None:
            raise UserError(f"A drop was already made from **{poll.question}**.")
        return poll

    async def spec(
        self,
        poll: Poll,
        name: str,
        opens_at: str,
        stock: str,
        channel_id: int,
        product: str | None = None,
    ) -> DropSpec:
        """The drop a manager asked for in the modal; ``product`` already checked with the
        shop by the caller (as /drop create checks it), None for a waitlist-only drop."""
        options = await self.store.options(poll.id)
        best = winner(options)
        try:
            units = int(stock.strip())
        except ValueError:
            raise UserError(
                f"{stock.strip()!r} is not a number of units; write it as 120."
            ) from None
        price = price_text(best.price_cents, self.currency)
        story = (
            f"The winner of the pre-order poll “{poll.question}”: **{best.name}**"
            f"{f' at {price}' if price else ''}, {best.units:,} units committed by "
            f"{best.fans:,} fans."
        )
        return DropSpec(
            name=" ".join(name.split()),
            starts_at=parse_local(opens_at, poll.timezone),
            timezone=poll.timezone,
            stock=units,
            description=story,
            channel_id=channel_id,
            product=product,
        )

    async def create(self, poll: Poll, created_by: int, spec: DropSpec) -> tuple[Drop, int]:
        """The drop's row (validated as /drop create validates) with its waitlist already
        pre-filled, and the number of fans on it; announced by the caller."""
        filled: list[int] = []

        async def take_and_fill(connection: Any, drop: Drop) -> None:
            fans = await take_and_prefill(connection, poll.id, drop, _only_open, utcnow())
            if fans is None:  # another manager was quicker: the drop's insert rolls back
                raise UserError(f"A drop was already made from **{poll.question}**.")
            filled.append(fans)

        drop = await self.drops.create(poll.guild_id, created_by, spec, within=take_and_fill)
        return drop, filled[0]

    async def tell_fans(self, drop: Drop) -> None:
        """Once its post is up: a DM to each committed fan who opted in to reminders, through
        the DM queue (its pace, closed DMs, restarts); the rest see it in /waitlist status."""
        row = await self.schedule.sends.insert(
            guild_id=drop.guild_id,
            kind=SendKind.POLL_DROP,
            drop_id=drop.id,
            channel_id=drop.channel_id,
            due_at=utcnow(),
        )
        self.schedule.jobs.schedule(row)
