"""A fixed history for /insights: 4 drops (and a cancelled one), 8 fans, a poll, forgotten
counts, and what every measure must be on it, worked out by hand below (docs/measures.md has
the definitions). The rows go in through the tables with fixed timestamps.

Drops of the server, by starts_at (2030; February has 28 days):
    D1 Alpha      01-10 18:00  closed
    DX Cancelled  01-20 18:00  cancelled   (u1 joined it: must count nowhere)
    D2 Beta       02-10 18:00  closed      (forgotten_counts: joined 1, claimed 1, paid 1)
    D3 Gamma      03-10 18:00  live        (made from the poll; the latest drop that opened)
    D4 Delta      04-10 18:00  scheduled
Another server has a drop with u1's entry and paid claim: it must count nowhere here.

Waitlists now:  D1 {u1,u2,u3,u4,u5}  D2 {u1,u2,u6,u7}  D3 {u1,u3,u6,u8}  D4 {u2,u8}
Claims (pressed Get my link), state and paid_at:
    D1: u1 paid 01-10 18:05 · u2 paid 18:10 · u3 refunded (paid 18:07) · u4 paid 18:20
        · u5 expired
    D2: u1 paid 02-10 18:05 · u3 paid 18:20 · u6 paid 19:00 · u7 paid 19:30
        · u4 paid 02-11 18:20 · u8 expired (not on D2's list: pressed after early access)
    D3: u1 paid 03-10 18:01 · u2 paid 18:10 · u5 paid 18:30 · u6 paid 19:00
        · u3 paid 03-12 18:20 · u8 held
Poll "Which colour?" (goal 10, drop D3): A = u5 x3 + u8 x1 = 4 units, 2 fans; B = u7 x2.
    History (option totals): A 3 @+1h, B 2 @+2h, A 1 @+2h30, A 4 @+3h
    -> all-option totals 3, 5, 3, 6.
A second poll, made into no drop, has u4's commitment: it counts nowhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.collector_tables import forgotten_counts
from storage.engine import Database
from storage.tables import (
    claim_links,
    claims,
    drops,
    poll_commitments,
    poll_options,
    poll_tally_history,
    polls,
    waitlist_entries,
)

DAY = 86_400
POLL_CREATED = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=UTC)


# name -> (starts_at, status)
DROPS = {
    "Alpha": (at(1, 10, 18), "closed"),
    "Cancelled": (at(1, 20, 18), "cancelled"),
    "Beta": (at(2, 10, 18), "closed"),
    "Gamma": (at(3, 10, 18), "live"),
    "Delta": (at(4, 10, 18), "scheduled"),
}
ENTRIES = {
    "Alpha": (1, 2, 3, 4, 5),
    "Cancelled": (1,),
    "Beta": (1, 2, 6, 7),
    "Gamma": (1, 3, 6, 8),
    "Delta": (2, 8),
}
# drop -> fan -> (state, paid_at, refunded_at)
CLAIMS: dict[str, dict[int, tuple[str, datetime | None, datetime | None]]] = {
    "Alpha": {
        1: ("paid", at(1, 10, 18, 5), None),
        2: ("paid", at(1, 10, 18, 10), None),
        3: ("refunded", at(1, 10, 18, 7), at(1, 12, 10)),
        4: ("paid", at(1, 10, 18, 20), None),
        5: ("expired", None, None),
    },
    "Beta": {
        1: ("paid", at(2, 10, 18, 5), None),
        3: ("paid", at(2, 10, 18, 20), None),
        6: ("paid", at(2, 10, 19), None),
        7: ("paid", at(2, 10, 19, 30), None),
        4: ("paid", at(2, 11, 18, 20), None),
        8: ("expired", None, None),
    },
    "Gamma": {
        1: ("paid", at(3, 10, 18, 1), None),
        2: ("paid", at(3, 10, 18, 10), None),
        5: ("paid", at(3, 10, 18, 30), None),
        6: ("paid", at(3, 10, 19), None),
        3: ("paid", at(3, 12, 18, 20), None),
        8: ("held", None, None),
    },
}
FORGOTTEN = {"Beta": {"joined": 1, "claimed": 1, "paid": 1, "refunded": 0}}
# option idx -> (name, {fan: quantity}); history: (option idx, minutes after creation, total)
POLL_OPTIONS = {0: ("Moth Green", {5: 3, 8: 1}), 1: ("Ash Grey", {7: 2})}
POLL_HISTORY = ((0, 60, 3), (1, 120, 2), (0, 150, 1), (0, 180, 4))

# --- what each measure must be, by hand --------------------------------------------------------
# Funnel: joined = entries now + forgotten joined; pressed = claims + forgotten claimed;
# paid = claims in state paid (refunds excluded) + forgotten paid.
#   Alpha: 5 entries; 5 claims; paid u1,u2,u4 = 3; refunded u3 = 1.
#   Beta: 4 + 1 = 5; 6 + 1 = 7; 5 + 1 = 6; 0.
#   Gamma: 4; 6; 5 (u8 only holds); 0.   Delta: 2; 0; 0; 0.
FUNNEL = {  # joined, pressed, paid, refunded
    "Alpha": (5, 5, 3, 1),
    "Beta": (5, 7, 6, 0),
    "Gamma": (4, 6, 5, 0),
    "Delta": (2, 0, 0, 0),
}
# Active = joined its list + committed in its poll + bought (paid) in it:
#   Alpha {1,2,3,4,5} + bought {1,2,4}                        = {1,2,3,4,5}       -> 5
#   Beta  {1,2,6,7} + bought {1,3,4,6,7}                     = {1,2,3,4,6,7}     -> 6
#         (u8 only pressed in Beta and let the hold expire: not active there)
#   Gamma {1,3,6,8} + poll {5,7,8} + bought {1,2,3,5,6}      = {1,2,3,5,6,7,8}   -> 7
#   Delta {2,8}                                              -> 2
# Retention into the next drop (the cancelled one is skipped, so Alpha's next is Beta):
#   Alpha -> Beta:  {1,2,3,4,5}  and  {1,2,3,4,6,7}     = {1,2,3,4}    4/5 = 0.8
#   Beta -> Gamma:  {1,2,3,4,6,7}  and  Gamma's         = {1,2,3,6,7}  5/6
#   Gamma -> Delta: Gamma's  and  {2,8}                 = {2,8}        2/7
#   Delta: no next drop -> no retention.
RETENTION = {  # active, retained (None: no next drop)
    "Alpha": (5, 4),
    "Beta": (6, 5),
    "Gamma": (7, 2),
    "Delta": (2, None),
}
# Purchases (paid, not refunded) in drop order, first and second, and the gap by paid_at:
#   u1: Alpha 01-10 18:05, Beta 02-10 18:05      -> 31 days
#   u2: Alpha 01-10 18:10, Gamma 03-10 18:10     -> 59 days
#   u4: Alpha 01-10 18:20, Beta 02-11 18:20      -> 32 days
#   u3: (Alpha refunded) Beta 02-10 18:20, Gamma 03-12 18:20 -> 30 days
#   u6: Beta 02-10 19:00, Gamma 03-10 19:00      -> 28 days
#   u7: Beta only;  u5: Gamma only.  (The forgotten fan's purchase belongs to nobody.)
# Cohorts: Alpha {u1,u2,u4}: 3 bought again, median of 31, 32, 59 = 32 days.
#          Beta {u3,u6,u7}: 2 bought again, median of 28, 30 = 29 days.
#          Gamma {u5}: 0 again, no median.  Delta: nobody.
COHORTS = {  # size, bought again, median seconds
    "Alpha": (3, 3, 32 * DAY),
    "Beta": (3, 2, 29 * DAY),
    "Gamma": (1, 0, None),
    "Delta": (0, 0, None),
}
# Pre-order interest of Gamma: goal 10; A 4 units from 2 fans, B 2 from 1; 6 of 10.
# Quarters of the goal (2.5, 5, 7.5, 10 units) first reached by the running totals 3, 5, 3, 6:
#   25 % at +1h (3), 50 % at +2h (5), 75 % and 100 % never.
PREORDER_OPTIONS = (("Moth Green", 4, 2), ("Ash Grey", 2, 1))
PREORDER_REACHED = (
    POLL_CREATED + timedelta(hours=1),
    POLL_CREATED + timedelta(hours=2),
    None,
    None,
)
ORDER = ("Alpha", "Beta", "Gamma", "Delta")


def drop_row(guild_id: int, name: str, starts_at: datetime, status: str) -> dict[str, Any]:
    return {
        "guild_id": guild_id,
        "name": name,
        "name_key": name.casefold(),
        "starts_at": starts_at,
        "timezone": "UTC",
        "stock": 10,
        "remaining": 10,
        "allocation": "waitlist-order",
        "status": status,
        "created_by": 1,
        "created_at": starts_at - timedelta(days=7),
        "updated_at": starts_at,
    }


async def new_id(connection: AsyncConnection, statement: Any) -> int:
    return int((await connection.execute(statement)).scalar_one())


async def insert_history(database: Database, guild_id: int, fans: list[int]) -> dict[str, int]:
    """The history above in server ``guild_id``; ``fans[i - 1]`` is u<i>. Drop ids by name."""
    ids: dict[str, int] = {}
    async with database.write() as connection:
        for name, (starts_at, status) in DROPS.items():
            ids[name] = await new_id(
                connection,
                drops.insert()
                .values(drop_row(guild_id, name, starts_at, status))
                .returning(drops.c.id),
            )
        ids["Elsewhere"] = await new_id(
            connection,
            drops.insert()
            .values(drop_row(guild_id + 1, "Elsewhere", at(2, 1, 18), "closed"))
            .returning(drops.c.id),
        )
        entries = [(name, fan) for name, line in ENTRIES.items() for fan in line]
        entries.append(("Elsewhere", 1))
        for seq, (name, fan) in enumerate(entries, start=1):
            await connection.execute(
                waitlist_entries.insert().values(
                    drop_id=ids[name],
                    guild_id=guild_id + 1 if name == "Elsewhere" else guild_id,
                    user_id=fans[fan - 1],
                    display_name=f"u{fan}",
                    joined_at=DROPS.get(name, (at(2, 1, 18),))[0] - timedelta(days=1),
                    seq=seq,
                )
            )
        bought = [
            (name, fan, state, paid, refunded)
            for name, by_fan in CLAIMS.items()
            for fan, (state, paid, refunded) in by_fan.items()
        ]
        bought.append(("Elsewhere", 1, "paid", at(2, 1, 18, 5), None))
        for n, (name, fan, state, paid, refunded) in enumerate(bought):
            starts = DROPS.get(name, (at(2, 1, 18),))[0]
            link_id = await new_id(connection,
                claim_links.insert().values(
                    drop_id=ids[name], shop="sandbox", claim_ref=f"ref-{n}", link_ref=f"link-{n}",
                    url=f"https://shop.test/{n}", state="taken", created_at=starts,
                ).returning(claim_links.c.id)
            )  # fmt: skip
            await connection.execute(
                claims.insert().values(
                    drop_id=ids[name], guild_id=guild_id + 1 if name == "Elsewhere" else guild_id,
                    user_id=fans[fan - 1], display_name=f"u{fan}",
                    link_id=link_id, state=state, claimed_at=starts,
                    hold_until=starts + timedelta(minutes=15), paid_at=paid, refunded_at=refunded,
                )
            )  # fmt: skip
        for name, counts in FORGOTTEN.items():
            await connection.execute(forgotten_counts.insert().values(drop_id=ids[name], **counts))
        await _insert_polls(connection, guild_id, fans, ids["Gamma"])
    return ids


async def _insert_polls(
    connection: AsyncConnection, guild_id: int, fans: list[int], drop_id: int
) -> None:
    for question, made_into in (("Which colour?", drop_id), ("Another idea?", None)):
        poll_id = await new_id(connection,
            polls.insert().values(
                guild_id=guild_id, question=question, goal=10, closes_at=at(3, 5, 12),
                timezone="UTC", channel_id=1, status="closed", drop_id=made_into, created_by=1,
                created_at=POLL_CREATED, closed_at=at(3, 5, 12),
            ).returning(polls.c.id)
        )  # fmt: skip
        chosen = POLL_OPTIONS if made_into else {0: ("Idea", {4: 5}), 1: ("Other", {})}
        for idx, (name, quantities) in chosen.items():
            await connection.execute(
                poll_options.insert().values(
                    poll_id=poll_id, idx=idx, name=name, units=sum(quantities.values()),
                    fans=len(quantities),
                )
            )  # fmt: skip
            for fan, quantity in quantities.items():
                await connection.execute(
                    poll_commitments.insert().values(
                        poll_id=poll_id, option_idx=idx, guild_id=guild_id,
                        user_id=fans[fan - 1], display_name=f"u{fan}", quantity=quantity,
                        committed_at=POLL_CREATED,
                    )
                )  # fmt: skip
        if made_into:
            for idx, minutes, units in POLL_HISTORY:
                await connection.execute(
                    poll_tally_history.insert().values(
                        poll_id=poll_id, option_idx=idx,
                        at=POLL_CREATED + timedelta(minutes=minutes), units=units,
                    )
                )  # fmt: skip
