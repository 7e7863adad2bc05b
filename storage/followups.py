"""The thank-you DM after a purchase: one ``purchase_followups`` row per paid claim.

The row is written in the transaction that marks the claim paid (:func:`owe_followup`, called
from :mod:`storage.orders`), so a purchase owes its DM exactly when it is recorded, and the
claim's id as the key means a webhook delivered twice cannot owe it twice. The DM then moves
by conditional UPDATEs, like a reminder delivery: pending -> sending -> sent (or unreachable,
skipped, failed, uncertain), so it is claimed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.collector_tables import purchase_followups
from storage.engine import Database
from storage.states import ClaimState, DeliveryState, DropStatus
from storage.tables import claims, dm_unreachable, drops, reminder_optins

PENDING, SENDING = DeliveryState.PENDING, DeliveryState.SENDING
SKIPPED, UNREACHABLE = DeliveryState.SKIPPED, DeliveryState.UNREACHABLE


@dataclass(frozen=True)
class NextDrop:
    id: int
    name: str


@dataclass(frozen=True)
class Followup:
    """A follow-up claimed for sending, with what its DM says."""

    claim_id: int
    guild_id: int
    user_id: int
    drop_name: str
    next_drop: NextDrop | None
    attempts: int

    @property
    def marker(self) -> str:
        return marker_of(self.claim_id)


def marker_of(claim_id: int) -> str:
    """The reference a follow-up DM ends with, so a restart can find it in the fan's DMs."""
    return f"ref F{claim_id}"


def _now() -> datetime:
    return datetime.now(UTC)


def _next_scheduled(guild_id: int, bought: int, now: datetime) -> Any:
    """The server's next drop still to open (not the one bought): scheduled, in the future,
    the earliest."""
    return (
        select(drops.c.id, drops.c.name)
        .where(
            drops.c.guild_id == guild_id,
            drops.c.id != bought,
            drops.c.status == DropStatus.SCHEDULED,
            drops.c.starts_at > now,
        )
        .order_by(drops.c.starts_at, drops.c.id)
        .limit(1)
    )


class PaidClaim(Protocol):
    """What a payment's outcome tells (``storage.orders.Applied``)."""

    @property
    def claim_id(self) -> int | None: ...
    @property
    def drop_id(self) -> int | None: ...
    @property
    def user_id(self) -> int | None: ...


def owe_followup(connection: Connection, paid: PaidClaim, now: datetime) -> bool:
    """In the payment's transaction: owe the fan a thank-you DM if they opted in to reminders
    for the drop they bought. True if a row was written (at most once per claim)."""
    claim_id, drop_id, user_id = paid.claim_id, paid.drop_id, paid.user_id
    if claim_id is None or drop_id is None or user_id is None:
        return False
    opted_in = connection.execute(
        select(reminder_optins.c.guild_id).where(
            reminder_optins.c.drop_id == drop_id, reminder_optins.c.user_id == user_id
        )
    ).first()
    if opted_in is None:
        return False
    owed = connection.execute(
        select(purchase_followups.c.claim_id).where(purchase_followups.c.claim_id == claim_id)
    ).first()
    if owed is not None:
        return False
    guild_id = opted_in.guild_id
    upcoming = connection.execute(_next_scheduled(guild_id, drop_id, now)).first()
    connection.execute(
        purchase_followups.insert().values(
            claim_id=claim_id,
            guild_id=guild_id,
            user_id=user_id,
            state=PENDING,
            next_drop_id=upcoming.id if upcoming is not None else None,
            created_at=now,
            updated_at=now,
        )
    )
    return True


class FollowupStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def owed_in(self, state: DeliveryState) -> list[tuple[int, int]]:
        """(claim id, user id) of the follow-ups in ``state``, oldest purchase first."""
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(purchase_followups.c.claim_id, purchase_followups.c.user_id)
                .where(purchase_followups.c.state == state)
                .order_by(purchase_followups.c.claim_id)
            )
            return [(row.claim_id, row.user_id) for row in rows]

    async def state_of(self, claim_id: int) -> tuple[DeliveryState, int | None] | None:
        """(state, message id) of a claim's follow-up, or None if it owes none."""
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    select(purchase_followups.c.state, purchase_followups.c.message_id).where(
                        purchase_followups.c.claim_id == claim_id
                    )
                )
            ).first()
        return None if row is None else (DeliveryState(row.state), row.message_id)

    async def claim(self, claim_id: int) -> Followup | None:
        """pending -> sending, with the DM's facts; None if it is not pending. A fan recorded
        unreachable since opting in is not tried (unreachable), nor one who turned the drop's
        reminders off or was refunded meanwhile (skipped)."""
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    select(
                        purchase_followups,
                        drops.c.name.label("drop_name"),
                        claims.c.drop_id,
                        claims.c.state.label("claim_state"),
                        reminder_optins.c.created_at.label("opted_in_at"),
                        dm_unreachable.c.recorded_at.label("unreachable_at"),
                    )
                    .join(claims, claims.c.id == purchase_followups.c.claim_id)
                    .join(drops, drops.c.id == claims.c.drop_id)
                    .outerjoin(
                        reminder_optins,
                        and_(
                            reminder_optins.c.drop_id == claims.c.drop_id,
                            reminder_optins.c.user_id == claims.c.user_id,
                        ),
                    )
                    .outerjoin(dm_unreachable, dm_unreachable.c.user_id == claims.c.user_id)
                    .where(
                        purchase_followups.c.claim_id == claim_id,
                        purchase_followups.c.state == PENDING,
                    )
                )
            ).first()
            if row is None:
                return None
            state = SENDING
            if row.opted_in_at is None or row.claim_state != ClaimState.PAID:
                state = SKIPPED  # reminders turned off, or refunded before the DM went out
            elif row.unreachable_at is not None and row.unreachable_at >= row.opted_in_at:
                state = UNREACHABLE
            await self._move(
                connection, claim_id, state, attempts=row.attempts + 1, only_from=PENDING
            )
            if state != SENDING:
                return None
            next_drop = await self._next_drop(
                connection, row.guild_id, row.drop_id, row.next_drop_id
            )
            return Followup(
                claim_id, row.guild_id, row.user_id, row.drop_name, next_drop, row.attempts + 1
            )

    async def _next_drop(
        self, connection: AsyncConnection, guild_id: int, bought: int, chosen: int | None
    ) -> NextDrop | None:
        """The drop chosen at the purchase, if it still takes joins; else whatever is next now
        (the chosen one may have been cancelled or opened while the DM waited)."""
        now = _now()
        if chosen is not None:
            row = (
                await connection.execute(
                    select(drops.c.id, drops.c.name).where(
                        drops.c.id == chosen,
                        drops.c.status == DropStatus.SCHEDULED,
                        drops.c.starts_at > now,
                    )
                )
            ).first()
            if row is not None:
                return NextDrop(row.id, row.name)
        row = (await connection.execute(_next_scheduled(guild_id, bought, now))).first()
        return NextDrop(row.id, row.name) if row is not None else None

    async def _move(
        self,
        connection: AsyncConnection,
        claim_id: int,
        state: DeliveryState,
        *,
        attempts: Any = None,
        message_id: int | None = None,
        only_from: DeliveryState | None = None,
    ) -> bool:
        values: dict[str, Any] = {"state": state, "updated_at": _now()}
        if attempts is not None:
            values["attempts"] = attempts
        if message_id is not None:
            values["message_id"] = message_id
        query = purchase_followups.update().where(purchase_followups.c.claim_id == claim_id)
        if only_from is not None:
            query = query.where(purchase_followups.c.state == only_from)
        result = await connection.execute(query.values(**values))
        return bool(result.rowcount)

    async def finish(
        self, claim_id: int, state: DeliveryState, message_id: int | None = None
    ) -> None:
        async with self.database.write() as connection:
            await self._move(connection, claim_id, state, message_id=message_id)

    async def release(self, claim_id: int) -> None:
        """sending -> pending without counting the attempt: it was put off, not tried."""
        async with self.database.write() as connection:
            await self._move(
                connection,
                claim_id,
                PENDING,
                attempts=purchase_followups.c.attempts - 1,
                only_from=SENDING,
            )
