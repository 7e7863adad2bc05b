"""A drop made from a closed poll: the winning option becomes the drop, and its waitlist starts
with the fans who committed, in order of first commitment.

The waitlist is filled through the join writer (``storage.joins.write_join_batch``), so places,
sequence numbers and the line's counters are exactly as if each fan had pressed Join in that
order. Nobody is opted in to reminders by this: DMs go only to fans who ask for them.
"""

from __future__ import annotations

from functools import partial

from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.errors import UserError
from services.localtime import parse_local, utcnow
from services.polls.rules import price_text
from services.polls.wording import winner
from storage.drops import Drop
from storage.engine import Database
from storage.joins import JoinRequest, write_join_batch
from storage.polls import Poll, PollStore

BATCH = 500


def _only_open(drop: Drop | None, _request: JoinRequest) -> UserError | None:
    if drop is None or not drop.is_open:
        return UserError("That drop is not open any more.")
    return None


class PollDrops:
    def __init__(self, database: Database, store: PollStore, drops: DropService, currency: str):
        self.database = database
        self.store = store
        self.drops = drops
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
        self, poll: Poll, name: str, opens_at: str, stock: str, channel_id: int
    ) -> DropSpec:
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
        )

    async def create(self, poll: Poll, created_by: int, spec: DropSpec) -> Drop:
        """The drop's row (validated as /drop create validates); announced by the caller."""
        drop = await self.drops.create(poll.guild_id, created_by, spec)
        if not await self.store.take_for_drop(poll.id, drop.id):
            await self.drops.delete(drop.id)  # another manager was quicker
            raise UserError(f"A drop was already made from **{poll.question}**.")
        return drop

    async def prefill(self, poll: Poll, drop: Drop) -> int:
        """Put the poll's committed fans on the drop's waitlist, by first commitment."""
        fans = await self.store.fans_in_commitment_order(poll.id)
        now = utcnow()
        for start in range(0, len(fans), BATCH):
            requests = [
                JoinRequest(poll.guild_id, drop.id, user_id, name, facts=None)
                for user_id, name in fans[start : start + BATCH]
            ]
            await self.database.run_write(partial(write_join_batch, requests, _only_open, now))
        if fans:
            self.drops.events.waitlist_changed(drop.id)  # the announcement's count follows
        return len(fans)
