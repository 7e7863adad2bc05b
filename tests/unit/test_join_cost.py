"""A join batch costs the same whether the line is short or long (issue 10: places in O(1) or
O(log N) per batch, never a count of the line).

Measured by SQLite itself, not by a clock: the progress handler counts the virtual machine's
instructions while one batch is written (new fans, and fans clicking again to ask their place),
once on a line of 1,000 and once on a line of 20,000. A batch that counted or scanned the line
would cost about 20 times more on the long one; an index lookup costs a few more steps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, insert, update

from services.drops.joins import refuse_join
from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.events import DropEvents
from storage.engine import Database
from storage.joins import JoinRequest, write_join_batch
from storage.migrate import upgrade
from storage.tables import drops, waitlist_entries
from tests.databases import database_url, sqlite_only

pytestmark = sqlite_only  # the instruction count is SQLite's own measure
FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
GUILD = 1
SHORT, LONG = 1_000, 20_000
STEP = 100  # the progress handler runs every STEP instructions


def fill(connection: Connection, drop_id: int, count: int) -> None:
    """``count`` fans on the drop's line, as joins would have left it (counters included)."""
    joined = datetime.now(UTC)
    rows = [
        {
            "drop_id": drop_id,
            "guild_id": GUILD,
            "user_id": 10_000_000 * drop_id + seq,
            "display_name": f"fan {seq}",
            "joined_at": joined,
            "seq": seq,
        }
        for seq in range(1, count + 1)
    ]
    connection.execute(insert(waitlist_entries), rows)
    connection.execute(
        update(drops).where(drops.c.id == drop_id).values(waitlist_size=count, waitlist_seq=count)
    )


def instructions(connection: Connection, batch: list[JoinRequest]) -> int:
    """SQLite VM instructions (to within STEP) spent writing ``batch``, committed or not."""
    raw = connection.connection.driver_connection
    assert raw is not None
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0  # 0: go on

    raw.set_progress_handler(tick, STEP)
    try:
        outcomes = write_join_batch(batch, refuse_join, datetime.now(UTC), connection)
    finally:
        raw.set_progress_handler(None, STEP)
    assert not any(isinstance(outcome, BaseException) for outcome in outcomes), outcomes
    return ticks[0] * STEP


def batch_for(drop_id: int, line: int) -> list[JoinRequest]:
    """16 new fans and 16 clicking again: from the head, the middle and the end of the line."""
    again = [1, 2, line // 2, line - 1, line, *range(line // 3, line // 3 + 11)]
    users = [20_000_000 * drop_id + n for n in range(16)]
    users += [10_000_000 * drop_id + seq for seq in again]
    return [JoinRequest(GUILD, drop_id, user, f"fan {user}", FAN) for user in users]


async def test_a_join_batch_costs_the_same_on_a_line_20_times_longer(tmp_path: Path) -> None:
    database = Database(database_url(tmp_path / "cost.db"))
    try:
        await upgrade(database)
        service = DropService(database, DropEvents())
        later = datetime.now(UTC) + timedelta(days=2)
        short = await service.create(GUILD, 9, DropSpec("Short", later, "UTC", 5))
        long = await service.create(GUILD, 9, DropSpec("Long", later, "UTC", 5))
        await database.run_write(lambda connection: fill(connection, short.id, SHORT))
        await database.run_write(lambda connection: fill(connection, long.id, LONG))
        # Warm (compiled statements, cached pages), then measured.
        await database.run_write(lambda c: instructions(c, batch_for(short.id, SHORT)[:1]))
        on_short = await database.run_write(
            lambda connection: instructions(connection, batch_for(short.id, SHORT))
        )
        on_long = await database.run_write(
            lambda connection: instructions(connection, batch_for(long.id, LONG))
        )
        joined = await database.run_write(
            lambda connection: write_join_batch(
                batch_for(long.id, LONG), refuse_join, datetime.now(UTC), connection
            )
        )
    finally:
        await database.dispose()
    # The batch did what it should: the 16 new fans are the line's next places (written by the
    # measured call; here they click again), the others keep theirs.
    places = [outcome.place for outcome in joined if not isinstance(outcome, BaseException)]
    assert places[:16] == list(range(LONG + 1, LONG + 17))
    assert places[16:21] == [1, 2, LONG // 2, LONG - 1, LONG]
    # O(log N): a line 20 times longer costs at most 1.5 times the instructions (a scan: ~20x).
    assert on_long <= 1.5 * on_short, (on_short, on_long)
