"""Pre-order polls: every query on polls, their options and commitments (the group-commit
writer of commitments is :mod:`storage.poll_commits`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.drops import Drop
from storage.engine import Database
from storage.joins import JoinRequest, Refuse, write_join_batch
from storage.records import Record
from storage.schedule import ScheduledSend, SendStore
from storage.states import PollStatus, SendKind
from storage.tables import poll_commitments, poll_options, poll_tally_history, polls


@dataclass(frozen=True)
class Poll(Record):
    id: int
    guild_id: int
    question: str
    goal: int
    closes_at: datetime
    timezone: str
    channel_id: int
    message_id: int | None
    status: PollStatus
    goal_reached_at: datetime | None
    close_send_id: int | None
    drop_id: int | None
    created_by: int
    created_at: datetime
    closed_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", PollStatus(self.status))

    @property
    def is_open(self) -> bool:
        return self.status == PollStatus.OPEN


@dataclass(frozen=True)
class PollOption(Record):
    poll_id: int
    idx: int
    name: str
    price_cents: int | None
    units: int
    fans: int


@dataclass(frozen=True)
class Commitment(Record):
    id: int
    option_idx: int
    user_id: int
    display_name: str
    quantity: int
    committed_at: datetime


@dataclass(frozen=True)
class TallyPoint(Record):
    option_idx: int
    at: datetime
    units: int


def _poll(row: Row[Any] | None) -> Poll | None:
    return Poll.from_row(row) if row is not None else None


# Open polls first, newest first: what a manager most likely means.
_OPEN_FIRST = (polls.c.status == PollStatus.OPEN).desc()


class PollStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.sends = SendStore(database)

    async def create(
        self,
        *,
        options: Sequence[tuple[str, int | None]],
        created_at: datetime,
        **values: Any,
    ) -> tuple[Poll, ScheduledSend]:
        """The poll, its options and its closing send, in one transaction."""
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    polls.insert()
                    .values(**values, status=PollStatus.OPEN, created_at=created_at)
                    .returning(*polls.c)
                )
            ).one()
            await connection.execute(
                poll_options.insert(),
                [
                    {"poll_id": row.id, "idx": idx, "name": name, "price_cents": price}
                    for idx, (name, price) in enumerate(options)
                ],
            )
            send = await self.sends.insert(
                connection,
                guild_id=row.guild_id,
                kind=SendKind.POLL_CLOSE,
                channel_id=row.channel_id,
                due_at=row.closes_at,
                created_by=row.created_by,
            )
            updated = (
                await connection.execute(
                    polls.update()
                    .where(polls.c.id == row.id)
                    .values(close_send_id=send.id)
                    .returning(*polls.c)
                )
            ).one()
        return Poll.from_row(updated), send

    async def delete(self, poll_id: int) -> None:
        """Undo a create whose post could not be made (its closing send goes with it)."""
        async with self.database.write() as connection:
            poll = _poll(
                (await connection.execute(select(polls).where(polls.c.id == poll_id))).first()
            )
            await connection.execute(polls.delete().where(polls.c.id == poll_id))
            if poll is not None and poll.close_send_id is not None:
                await self.sends.transition_in(
                    connection, poll.close_send_id, ("pending",), "cancelled"
                )

    async def set_message(self, poll_id: int, message_id: int) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                polls.update().where(polls.c.id == poll_id).values(message_id=message_id)
            )

    async def get(self, guild_id: int, poll_id: int) -> Poll | None:
        query = select(polls).where(polls.c.id == poll_id, polls.c.guild_id == guild_id)
        async with self.database.read() as connection:
            return _poll((await connection.execute(query)).first())

    async def get_any(self, poll_id: int) -> Poll | None:
        """A poll by id whatever its server: for background work, never for a user's input."""
        async with self.database.read() as connection:
            return _poll(
                (await connection.execute(select(polls).where(polls.c.id == poll_id))).first()
            )

    async def by_close_send(self, send_id: int) -> Poll | None:
        query = select(polls).where(polls.c.close_send_id == send_id)
        async with self.database.read() as connection:
            return _poll((await connection.execute(query)).first())

    async def in_guild(self, guild_id: int) -> list[Poll]:
        query = (
            select(polls)
            .where(polls.c.guild_id == guild_id)
            .order_by(_OPEN_FIRST, polls.c.id.desc())
        )
        async with self.database.read() as connection:
            return [Poll.from_row(row) for row in (await connection.execute(query)).all()]

    async def showing(self, closed_since: datetime) -> list[int]:
        """Polls whose post may still change: open ones, and ones closed since then."""
        query = select(polls.c.id).where(
            polls.c.message_id.is_not(None),
            (polls.c.status == PollStatus.OPEN) | (polls.c.closed_at >= closed_since),
        )
        async with self.database.read() as connection:
            return [int(poll_id) for (poll_id,) in await connection.execute(query)]

    async def options(self, poll_id: int) -> list[PollOption]:
        query = select(poll_options).where(poll_options.c.poll_id == poll_id)
        async with self.database.read() as connection:
            rows = (await connection.execute(query.order_by(poll_options.c.idx))).all()
        return [PollOption.from_row(row) for row in rows]

    async def panel(
        self, guild_id: int, poll_id: int, user_id: int
    ) -> tuple[Poll, list[PollOption], dict[int, int]] | None:
        """What a fan's option panel shows, in one read: the poll, its options, their own."""
        async with self.database.read() as connection:
            poll = _poll(
                (
                    await connection.execute(
                        select(polls).where(polls.c.id == poll_id, polls.c.guild_id == guild_id)
                    )
                ).first()
            )
            if poll is None:
                return None
            options = (
                await connection.execute(
                    select(poll_options)
                    .where(poll_options.c.poll_id == poll_id)
                    .order_by(poll_options.c.idx)
                )
            ).all()
            mine = await connection.execute(
                select(poll_commitments.c.option_idx, poll_commitments.c.quantity).where(
                    poll_commitments.c.poll_id == poll_id, poll_commitments.c.user_id == user_id
                )
            )
            return (
                poll,
                [PollOption.from_row(row) for row in options],
                {row.option_idx: row.quantity for row in mine},
            )

    async def fan_commitments(self, poll_id: int, user_id: int) -> dict[int, int]:
        """The fan's quantity per option index."""
        query = select(poll_commitments.c.option_idx, poll_commitments.c.quantity).where(
            poll_commitments.c.poll_id == poll_id, poll_commitments.c.user_id == user_id
        )
        async with self.database.read() as connection:
            return {row.option_idx: row.quantity for row in (await connection.execute(query))}

    async def commitments(self, poll_id: int) -> list[Commitment]:
        """Every commitment, by option, then in order of commitment."""
        query = (
            select(poll_commitments)
            .where(poll_commitments.c.poll_id == poll_id)
            .order_by(poll_commitments.c.option_idx, poll_commitments.c.id)
        )
        async with self.database.read() as connection:
            return [Commitment.from_row(row) for row in (await connection.execute(query)).all()]

    async def history(self, poll_id: int) -> list[TallyPoint]:
        query = (
            select(poll_tally_history)
            .where(poll_tally_history.c.poll_id == poll_id)
            .order_by(poll_tally_history.c.id)
        )
        async with self.database.read() as connection:
            return [TallyPoint.from_row(row) for row in (await connection.execute(query)).all()]

    async def close(self, poll_id: int, now: datetime) -> Poll | None:
        """open -> closed, only if still open: whoever closes first (schedule or command) wins."""
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    polls.update()
                    .where(polls.c.id == poll_id, polls.c.status == PollStatus.OPEN)
                    .values(status=PollStatus.CLOSED, closed_at=now)
                    .returning(*polls.c)
                )
            ).first()
        return _poll(row)


# Fans per call of the join writer while pre-filling: its statements stay a fixed size.
PREFILL_BATCH = 500


async def take_and_prefill(
    connection: AsyncConnection, poll_id: int, drop: Drop, refuse: Refuse, now: datetime
) -> int | None:
    """In the drop's creating transaction: record the drop made from this poll and put the
    poll's committed fans on its waitlist by first commitment (through the join writer, so
    places and counters are as if each had pressed Join in that order). The fans' count, or
    None if a drop was made from this poll already (the caller rolls back).

    One transaction with the drop's insert: a crash anywhere leaves either no drop and the
    poll free, or the drop with its whole pre-filled line; never a taken poll without its fans.
    """
    taken = await connection.execute(
        polls.update()
        .where(polls.c.id == poll_id, polls.c.drop_id.is_(None))
        .values(drop_id=drop.id)
    )
    if taken.rowcount != 1:
        return None
    first = func.min(poll_commitments.c.id)
    fans = (
        await connection.execute(
            select(poll_commitments.c.user_id, func.max(poll_commitments.c.display_name))
            .where(poll_commitments.c.poll_id == poll_id)
            .group_by(poll_commitments.c.user_id)
            .order_by(first)
        )
    ).all()
    for start in range(0, len(fans), PREFILL_BATCH):
        requests = [
            JoinRequest(drop.guild_id, drop.id, int(user_id), str(name), facts=None)
            for user_id, name in fans[start : start + PREFILL_BATCH]
        ]
        await connection.run_sync(partial(write_join_batch, requests, refuse, now))
    return len(fans)
