"""/privacy export and /privacy forget end to end: the real bot, a real SQLite file, the sandbox
and the sandbox shop (claims paid through signed webhooks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, func, select

import storage.collector_tables  # noqa: F401  (its tables join the metadata)
from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.models import BOT_DEFAULT, MANAGE_ROLES, Member
from sandbox.shop.server import SandboxShop
from services.drops.rules import DropSpec
from services.localtime import utcnow
from storage.collector_tables import (
    collector_tiers,
    forgotten_counts,
    purchase_followups,
    role_changes,
)
from storage.tables import (
    claim_links,
    claims,
    dm_channels,
    dm_unreachable,
    drops,
    metadata,
    poll_options,
    reminder_deliveries,
    scheduled_sends,
    waitlist_entries,
)
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.e2e.poll_support import commit, create_poll, poll_id_of
from tests.harness import Community, wait_for

T = TypeVar("T")


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=10)
        yield running


async def sql(bot: Dropbell, work: Callable[[Connection], T]) -> T:
    return await bot.database.run_write(work)


async def export_of(sb: Sandbox, fan: Member) -> dict[str, Any]:
    answer = await sb.slash(fan, "privacy export")
    assert answer.ephemeral, answer
    [(name, data, _)] = answer.attachments
    assert name.endswith(".json")
    document: dict[str, Any] = json.loads(data)
    return document


async def forget(sb: Sandbox, fan: Member) -> str:
    prompt = await sb.slash(fan, "privacy forget")
    assert prompt.ephemeral and prompt.message is not None
    assert set(prompt.message.custom_ids()) == {
        f"dropbell:forget:{fan.user.id}",
        f"dropbell:keep:{fan.user.id}",
    }
    done = await sb.click(fan, prompt.message, f"dropbell:forget:{fan.user.id}")
    return done.content


def drop_totals(connection: Connection, drop_id: int) -> dict[str, int]:
    """What a drop counts, forgotten fans included: rows left plus forgotten_counts."""

    def claims_in(*states: str) -> int:
        query = select(func.count()).where(claims.c.drop_id == drop_id)
        if states:
            query = query.where(claims.c.state.in_(states))
        return int(connection.execute(query).scalar_one())

    joined = connection.execute(
        select(func.count()).where(waitlist_entries.c.drop_id == drop_id)
    ).scalar_one()
    gone = connection.execute(
        select(forgotten_counts).where(forgotten_counts.c.drop_id == drop_id)
    ).first()
    extra = gone._mapping if gone else {"joined": 0, "claimed": 0, "paid": 0, "refunded": 0}
    return {
        "joined": joined + extra["joined"],
        "claimed": claims_in() + extra["claimed"],
        "paid": claims_in("paid") + extra["paid"],
        "refunded": claims_in("refunded") + extra["refunded"],
    }


async def _totals_are(bot: Dropbell, drop_id: int, wanted: dict[str, int]) -> bool:
    return await sql(bot, lambda connection: drop_totals(connection, drop_id)) == wanted


async def paid_claim(sb: Sandbox, shop: SandboxShop, bot: Dropbell, fan: Member, post: Any) -> int:
    drop_id = int(next(c for c in post.custom_ids() if "claim" in c).rsplit(":", 1)[1])
    got = await sb.click(fan, post, f"dropbell:claim:{drop_id}")
    url = link_url(got.components)
    assert url is not None, got.content
    await shop.stripe.complete(session_of(shop, url))

    async def paid() -> bool:
        claim = await bot.services.drop_day.claim_of(drop_id, fan.id)
        return claim is not None and claim.state == "paid"

    await wait_for(paid, what="the payment webhook")
    claim = await bot.services.drop_day.claim_of(drop_id, fan.id)
    assert claim is not None
    return claim.id


async def test_export_then_forget_keeps_totals_and_other_fans(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    fan, other, first = community.fans[:3]
    guild_id = community.guild.id
    sandbox.set_bot_permissions(guild_id, BOT_DEFAULT | MANAGE_ROLES)
    try:
        # A drop that sells (opens in a few seconds) and a later one with a line of three.
        sold = await drop_opening_in(bot, community, 4, stock=3)
        later = await bot.services.drops.create(
            guild_id,
            community.manager.id,
            DropSpec("Moth Cap", utcnow() + timedelta(days=3), "UTC", 10, channel_id=None),
        )
        # The fan also created a drop as a manager once.
        own = await bot.services.drops.create(
            guild_id,
            fan.id,
            DropSpec("Fan Made", utcnow() + timedelta(days=4), "UTC", 5, channel_id=None),
        )
        for member in (fan, other):
            joined = await sandbox.slash(member, "waitlist join", {"drop": "Night Moth Tee"})
            assert "You're #" in joined.content, joined.content
        for member in (first, fan, other):
            joined = await sandbox.slash(member, "waitlist join", {"drop": "Moth Cap"})
            assert "You're #" in joined.content, joined.content
        offsets = bot.services.schedule.config.offsets.reminders
        await bot.services.drops.toggle_reminder(guild_id, later.id, fan.id, offsets)
        await bot.services.drops.toggle_reminder(guild_id, later.id, other.id, offsets)

        # An open poll (its counters must drop) and a closed one (its totals stay).
        open_post = await create_poll(sandbox, community)
        await commit(sandbox, fan, open_post, 1, 3)
        await commit(sandbox, other, open_post, 1, 2)
        closed_post = await create_poll(sandbox, community, question="Which colour next?")
        await commit(sandbox, fan, closed_post, 0, 4)
        await commit(sandbox, other, closed_post, 0, 1)
        closed = await sandbox.slash(
            community.manager, "poll close", {"poll": str(poll_id_of(closed_post))}
        )
        assert "closed" in (await closed.wait_final()).text.lower()

        # Two tiers the fan once made as a manager (written directly: /collector tier-set
        # would record the manager who ran it). Each purchase below then writes the buyer's
        # profile and queues their Bronze grant, as the collectors feature does.
        bronze = sandbox.create_role(guild_id, "Bronze collector")
        silver = sandbox.create_role(guild_id, "Silver collector")

        def tiers(connection: Connection) -> None:
            now = utcnow()
            for name, role, minimum in (("Bronze", bronze, 1), ("Silver", silver, 3)):
                connection.execute(
                    collector_tiers.insert().values(
                        guild_id=guild_id, name=name, name_key=name.lower(), role_id=role.id,
                        min_purchases=minimum, created_by=fan.id, created_at=now, updated_at=now,
                    )
                )  # fmt: skip

        await sql(bot, tiers)
        post = await opening_post(sandbox, community, sold)
        fan_claim = await paid_claim(sandbox, shop, bot, fan, post)
        other_claim = await paid_claim(sandbox, shop, bot, other, post)

        # The follow-ups (neither fan asked for reminders on the sold drop, so none is owed)
        # and the DM bookkeeping, put in place as those features would.
        def seed(connection: Connection) -> None:
            now = utcnow()
            for member, claim_id in ((fan, fan_claim), (other, other_claim)):
                connection.execute(
                    purchase_followups.insert().values(
                        claim_id=claim_id, guild_id=guild_id, user_id=member.id, state="sent",
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                # The reminder opt-in may have opened the DM channel already.
                connection.execute(
                    bot.database.insert_ignoring_duplicates(dm_channels).values(
                        user_id=member.id, channel_id=7
                    )
                )
                send_id = connection.execute(
                    scheduled_sends.insert()
                    .values(
                        guild_id=guild_id, kind="reminder", drop_id=later.id, due_at=now,
                        state="sent", created_at=now, updated_at=now,
                    )
                    .returning(scheduled_sends.c.id)
                ).scalar_one()  # fmt: skip
                connection.execute(
                    reminder_deliveries.insert().values(
                        send_id=send_id, drop_id=later.id, guild_id=guild_id, user_id=member.id,
                        state="sent", created_at=now, updated_at=now,
                    )
                )  # fmt: skip

        await sql(bot, seed)

        # --- the export: exactly the fan's rows ---------------------------------------------
        exported = await export_of(sandbox, fan)
        mine = exported["in_this_server"]
        assert {table: len(rows) for table, rows in mine.items()} == {
            "waitlist_entries": 2,
            "reminder_optins": 1,
            "reminder_deliveries": 1,
            "claims": 1,
            "poll_commitments": 2,
            "collector_profiles": 1,
            "role_changes": 1,
            "purchase_followups": 1,
        }
        for rows in mine.values():
            assert all(row["user_id"] == fan.id for row in rows)
        [claim] = mine["claims"]
        assert claim["drop_name"] == "Night Moth Tee" and claim["state"] == "paid"
        assert claim["order_ref"].startswith("pi_") and claim["paid_at"].endswith("Z")
        assert "url" not in claim
        [channel] = exported["shared_by_every_server"]["dm_channels"]
        assert channel["user_id"] == fan.id
        assert exported["created_as_manager"]["drops"] == [{"id": own.id, "name": "Fan Made"}]
        assert len(exported["created_as_manager"]["collector_tiers"]) == 2
        assert str(other.id) not in json.dumps(exported)
        other_before = await export_of(sandbox, other)

        # Every table with a user_id or created_by column is in the export: a new table that
        # holds rows about people fails here until the export (and the forget) know it.
        exported_tables = set(mine) | set(exported["shared_by_every_server"])
        assert exported_tables == {t.name for t in metadata.tables.values() if "user_id" in t.c}
        assert set(exported["created_as_manager"]) == {
            t.name for t in metadata.tables.values() if "created_by" in t.c
        }

        # --- the forget ---------------------------------------------------------------------
        def both_totals(connection: Connection) -> dict[int, dict[str, int]]:
            return {drop_id: drop_totals(connection, drop_id) for drop_id in (sold, later.id)}

        totals_before = await sql(bot, both_totals)
        assert totals_before[sold] == {"joined": 2, "claimed": 2, "paid": 2, "refunded": 0}
        open_id, closed_id = poll_id_of(open_post), poll_id_of(closed_post)

        def option_units(connection: Connection) -> dict[tuple[int, int], tuple[int, int]]:
            rows = connection.execute(select(poll_options)).all()
            return {(r.poll_id, r.idx): (r.units, r.fans) for r in rows}

        def fans_session(connection: Connection) -> str:
            return connection.execute(
                select(claim_links.c.link_ref)
                .join(claims, claims.c.link_id == claim_links.c.id)
                .where(claims.c.drop_id == sold, claims.c.user_id == fan.id)
            ).scalar_one()

        session = await sql(bot, fans_session)
        units_before = await sql(bot, option_units)
        done = await forget(sandbox, fan)
        assert done.startswith("Done: ") and "removed from this server" in done, done
        assert "collector roles are being removed" in done

        assert await sql(bot, both_totals) == totals_before
        # The forgotten fan's order is refunded at the shop afterwards: the anonymous counts
        # follow it, so the drop's totals stay true.
        refunded = await shop.stripe.refund(session)
        assert refunded.results[0][1] == 200
        refund_counted = {**totals_before[sold], "paid": 1, "refunded": 1}
        await wait_for(
            lambda: _totals_are(bot, sold, refund_counted), what="the refund in the counts"
        )
        units_after = await sql(bot, option_units)
        assert units_after[(open_id, 1)] == (units_before[(open_id, 1)][0] - 3, 1)
        assert units_after[(closed_id, 0)] == units_before[(closed_id, 0)]  # closed: kept

        # The line closed up: places stay consecutive, the size follows.
        entries = {e.drop.id: e for e in await bot.services.drops.fan_entries(guild_id, other.id)}
        assert (entries[later.id].place, entries[later.id].total) == (2, 2)
        first_entries = await bot.services.drops.fan_entries(guild_id, first.id)
        assert [(e.place, e.total) for e in first_entries] == [(1, 2)]
        status = await sandbox.slash(other, "waitlist status")
        assert "#2 of 2" in status.content, status.content

        def queued(connection: Connection) -> list[tuple[int, str, str]]:
            rows = connection.execute(
                select(role_changes.c.role_id, role_changes.c.action, role_changes.c.state)
                .where(role_changes.c.user_id == fan.id)
                .order_by(role_changes.c.role_id)
            ).all()
            return [tuple(row) for row in rows]

        # Role removals are queued for every collector role of the server (seen here unless
        # the queue, woken by the forget, was quicker) and carried out: the fan's Bronze is
        # gone, and so are the rows, the last ones keyed by the fan.
        assert set(await sql(bot, queued)) <= {
            (bronze.id, "forget", "pending"),
            (silver.id, "forget", "pending"),
        }
        await wait_for(lambda: bronze.id not in fan.roles, what="the fan's Bronze removed")

        async def rows_gone() -> bool:
            return await sql(bot, queued) == []

        await wait_for(rows_gone, what="the role removals' rows deleted once done")
        assert bronze.id in other.roles

        def created_by(connection: Connection) -> list[int]:
            rows = connection.execute(
                select(drops.c.created_by).where(drops.c.id == own.id)
            ).scalars()
            return list(rows)

        assert await sql(bot, created_by) == [0]

        # A later export shows nothing about them.
        after = await export_of(sandbox, fan)
        assert {t: rows for t, rows in after["in_this_server"].items() if rows} == {}
        assert all(not rows for rows in after["created_as_manager"].values())
        assert all(not rows for rows in after["shared_by_every_server"].values())

        def dm_rows(connection: Connection) -> int:
            return sum(
                connection.execute(
                    select(func.count()).where(table.c.user_id == fan.id)
                ).scalar_one()
                for table in (dm_channels, dm_unreachable)
            )

        assert await sql(bot, dm_rows) == 0

        # The other fan is untouched.
        other_after = await export_of(sandbox, other)
        assert other_after["in_this_server"] == other_before["in_this_server"]
        assert other_after["shared_by_every_server"] == other_before["shared_by_every_server"]
    finally:
        await runner.stop()


async def test_forget_is_refused_while_a_purchase_link_is_held(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community, hold=120)
    fan = community.fans[0]
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=2)
        joined = await sandbox.slash(fan, "waitlist join", {"drop": "Night Moth Tee"})
        assert "You're #" in joined.content
        post = await opening_post(sandbox, community, drop_id)
        got = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
        assert link_url(got.components) is not None
        before = await export_of(sandbox, fan)

        prompt = await sandbox.slash(fan, "privacy forget")
        assert prompt.message is not None
        other = community.fans[1]
        stranger = await sandbox.click(other, prompt.message, f"dropbell:forget:{fan.id}")
        assert "someone else's" in stranger.content
        refused = await sandbox.click(fan, prompt.message, f"dropbell:forget:{fan.id}")
        assert refused.ephemeral
        assert "You hold a purchase link for **Night Moth Tee**" in refused.content
        assert "after that hold ends or after paying" in refused.content
        assert refused.content.count(".") == 1  # one sentence
        kept = await sandbox.click(fan, prompt.message, f"dropbell:keep:{fan.id}")
        assert kept.content == "Nothing was deleted."

        after = await export_of(sandbox, fan)
        assert after["in_this_server"] == before["in_this_server"]
        claim = await bot.services.drop_day.claim_of(drop_id, fan.id)
        assert claim is not None and claim.state == "held"
    finally:
        await runner.stop()


async def test_an_export_over_the_upload_limit_is_one_sentence(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    fan = community.fans[0]
    small = await export_of(sandbox, fan)
    assert all(not rows for rows in small["in_this_server"].values())
    sandbox.world.attachment_size_limit = 200  # smaller than even an empty export
    answer = await sandbox.slash(fan, "privacy export")
    assert answer.ephemeral and answer.attachments == []
    assert "larger than" in answer.content and answer.content.count(".") == 1, answer.content
