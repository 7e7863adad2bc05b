"""storage.privacy on a real SQLite file: the counts a forget leaves per drop add up across
fans and claim states, the shared DM rows stay while another server knows the fan, a claim
whose hold or link is not over yet blocks the forget, and the role removals a forget queues
leave no row behind once carried out or given up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from services.localtime import utcnow
from storage.collector_counts import RoleChangeState
from storage.collector_tables import collector_tiers, forgotten_counts, role_changes
from storage.collectors import MISSING_PERMISSIONS, CollectorStore
from storage.engine import Database
from storage.migrate import upgrade
from storage.privacy import Forgotten, LiveHold, forget_fan
from storage.tables import claim_links, claims, dm_channels, drops, reminder_optins

GUILD, ELSEWHERE = 1, 2


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'privacy.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


def add_drop(connection: Connection, name: str, guild_id: int = GUILD) -> int:
    now = utcnow()
    return int(
        connection.execute(
            drops.insert()
            .values(
                guild_id=guild_id, name=name, name_key=name.lower(), starts_at=now,
                timezone="UTC", stock=5, remaining=5, allocation="waitlist-order",
                status="closed", created_by=99, created_at=now, updated_at=now,
            )
            .returning(drops.c.id)
        ).scalar_one()
    )  # fmt: skip


def add_claim(
    connection: Connection, drop_id: int, user_id: int, state: str, link_ended: int = 1
) -> None:
    now = utcnow()
    link_id = connection.execute(
        claim_links.insert()
        .values(
            drop_id=drop_id, shop="sandbox", claim_ref=f"c{drop_id}-{user_id}",
            link_ref=f"l{drop_id}-{user_id}", state="taken", created_at=now,
        )
        .returning(claim_links.c.id)
    ).scalar_one()  # fmt: skip
    connection.execute(
        claims.insert().values(
            drop_id=drop_id, guild_id=GUILD, user_id=user_id, display_name="fan",
            link_id=link_id, state=state, claimed_at=now, hold_until=now - timedelta(hours=1),
            link_ended=link_ended,
        )
    )  # fmt: skip


async def counts(database: Database) -> dict[int, tuple[int, int, int, int]]:
    async with database.read() as connection:
        rows = (await connection.execute(select(forgotten_counts))).all()
    return {row.drop_id: (row.joined, row.claimed, row.paid, row.refunded) for row in rows}


async def test_forgotten_counts_add_up_across_fans_and_states(database: Database) -> None:
    def seed(connection: Connection) -> tuple[int, int]:
        first, second = add_drop(connection, "First"), add_drop(connection, "Second")
        add_claim(connection, first, 10, "paid")
        add_claim(connection, second, 10, "refunded")
        add_claim(connection, first, 11, "expired")
        add_claim(connection, second, 11, "paid")
        add_claim(connection, first, 12, "paid")  # never forgotten
        return first, second

    first, second = await database.run_write(seed)
    for user_id in (10, 11):
        done = await database.run_write(
            partial(forget_fan, guild_id=GUILD, user_id=user_id, now=utcnow())
        )
        assert isinstance(done, Forgotten) and done.removed == {"claims": 2}
    assert await counts(database) == {first: (0, 2, 1, 0), second: (0, 2, 1, 1)}


async def test_dm_rows_stay_while_another_server_knows_the_fan(database: Database) -> None:
    def seed(connection: Connection) -> None:
        elsewhere = add_drop(connection, "Elsewhere", guild_id=ELSEWHERE)
        for user_id in (10, 11):
            connection.execute(dm_channels.insert().values(user_id=user_id, channel_id=user_id))
        connection.execute(
            reminder_optins.insert().values(
                drop_id=elsewhere, user_id=11, guild_id=ELSEWHERE, created_at=utcnow()
            )
        )

    await database.run_write(seed)
    alone = await database.run_write(partial(forget_fan, guild_id=GUILD, user_id=10, now=utcnow()))
    known = await database.run_write(partial(forget_fan, guild_id=GUILD, user_id=11, now=utcnow()))
    assert isinstance(alone, Forgotten) and not alone.dm_rows_kept
    assert alone.removed == {"dm_channels": 1}
    assert isinstance(known, Forgotten) and known.dm_rows_kept and known.removed == {}
    async with database.read() as connection:
        left = (await connection.execute(select(dm_channels.c.user_id))).scalars().all()
    assert left == [11]


@pytest.mark.parametrize(
    ("state", "link_ended"), [("held", 0), ("expired", 0)], ids=["overdue hold", "link not ended"]
)
async def test_a_hold_not_over_yet_blocks_the_forget(
    database: Database, state: str, link_ended: int
) -> None:
    def seed(connection: Connection) -> None:
        add_claim(connection, add_drop(connection, "First"), 10, state, link_ended)

    await database.run_write(seed)
    refused = await database.run_write(
        partial(forget_fan, guild_id=GUILD, user_id=10, now=utcnow())
    )
    assert isinstance(refused, LiveHold) and refused.ending and refused.drop_name == "First"
    async with database.read() as connection:
        assert len((await connection.execute(select(claims))).all()) == 1


async def test_the_role_removals_of_a_forget_leave_no_row_once_done(database: Database) -> None:
    """Done, or failed for good (the fan left: 10007): the row goes. Refused for a missing
    permission: it stays, failed, until a manager fixes the role; then retried and gone. The
    tier's role deleted: its pending removals go. A tier's own removal stays as done."""
    roles = {"Bronze": 501, "Silver": 502, "Gold": 503, "Plat": 504}

    def seed(connection: Connection) -> None:
        now = utcnow()
        for minimum, (name, role_id) in enumerate(roles.items(), start=1):
            connection.execute(
                collector_tiers.insert().values(
                    guild_id=GUILD, name=name, name_key=name.lower(), role_id=role_id,
                    min_purchases=minimum, created_by=99, created_at=now, updated_at=now,
                )
            )  # fmt: skip
        connection.execute(
            role_changes.insert().values(
                guild_id=GUILD, user_id=11, role_id=501, action="remove", state="pending",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip

    def rows(connection: Connection) -> dict[int, tuple[int, str, str]]:
        found = connection.execute(
            select(role_changes.c.id, role_changes.c.user_id, role_changes.c.role_id,
                   role_changes.c.action, role_changes.c.state)
        ).all()  # fmt: skip
        return {row.role_id: (row.user_id, row.action, row.state) for row in found}

    await database.run_write(seed)
    done = await database.run_write(partial(forget_fan, guild_id=GUILD, user_id=10, now=utcnow()))
    assert isinstance(done, Forgotten) and done.roles_queued == 4
    store = CollectorStore(database)
    pending = await store.pending_round(10, 10)
    ids = {change.role_id: change.id for change in pending if change.user_id == 10}
    [others] = [change.id for change in pending if change.user_id == 11]
    now = utcnow()
    await store.finish(ids[501], RoleChangeState.DONE, None, now)
    await store.finish(ids[502], RoleChangeState.FAILED, 10007, now)
    await store.finish(ids[503], RoleChangeState.FAILED, MISSING_PERMISSIONS, now)
    assert await store.disable_role(GUILD, 504, "deleted", now)
    left = await database.run_write(rows)
    assert {role: row for role, row in left.items() if row[0] == 10} == {
        503: (10, "forget", "failed")
    }
    assert left[501] == (11, "remove", "pending")  # another fan's own tier change
    assert await store.retry_refused(GUILD, 503, now) == 1
    [retried] = [c for c in await store.pending_round(10, 10) if c.user_id == 10]
    await store.finish(retried.id, RoleChangeState.DONE, None, now)
    await store.finish(others, RoleChangeState.DONE, None, now)
    assert await database.run_write(rows) == {501: (11, "remove", "done")}
