"""Scheduled posts end to end: the real bot, the sandbox, real time (due times 1-3 s ahead)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.bot import Dropbell
from sandbox import Sandbox
from sandbox.models import Message
from services.drops.rules import DropSpec
from services.localtime import utcnow
from services.schedule import render
from storage.schedule import ScheduledSend
from storage.tables import scheduled_sends
from tests.databases import database_url
from tests.harness import Community, InProcessBot, seconds_before, wait_for

MARKER = re.compile(r"dropbell · ref S(\d+)\b")
DM_MARKER = re.compile(r"dropbell · ref R(\d+)\b")


def markers(messages: list[Message], pattern: re.Pattern[str] = MARKER) -> list[int]:
    found = []
    for message in messages:
        match = pattern.search(message.content)
        if match:
            found.append(int(match.group(1)))
    return found


def local_minutes_ahead(minutes: int, zone: str = "UTC") -> str:
    moment = datetime.now(UTC).astimezone(ZoneInfo(zone)) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%d %H:%M")


async def start_compressed(
    runner: InProcessBot,
    countdowns: list[float],
    reminders: list[float],
    **scheduler: Any,
) -> Dropbell:
    """The bot configured with countdowns and reminders seconds (not hours) before opening."""
    runner.settings = runner.settings.model_copy(
        update={
            "scheduler": runner.settings.scheduler.model_copy(
                update={
                    "countdown_offsets_minutes": seconds_before(*countdowns),
                    "reminder_offsets_minutes": seconds_before(*reminders),
                    **scheduler,
                }
            )
        }
    )
    return await runner.start()


def job_ids(bot: Dropbell) -> set[str]:
    return set(bot.services.schedule.jobs.due_times())


async def schedule_announcement(
    bot: Dropbell, community: Community, message: str, due_at: datetime, **extra: Any
) -> ScheduledSend:
    """/announce schedule and Confirm, to the second (the command itself takes minutes)."""
    announcements = bot.services.schedule.announcements
    draft = await announcements.draft(
        community.guild.id,
        community.drops.id,
        message,
        due_at,
        extra.pop("zone_name", "UTC"),
        extra.pop("repeat", None),
        community.manager.id,
    )
    return await announcements.confirm(draft.id, community.manager.id)


async def rows(bot: Dropbell, **where: Any) -> list[ScheduledSend]:
    query = select(scheduled_sends).order_by(scheduled_sends.c.id)
    for key, value in where.items():
        query = query.where(scheduled_sends.c[key] == value)
    async with bot.database.read() as connection:
        return [ScheduledSend.from_row(row) for row in (await connection.execute(query)).all()]


async def create_drop_now(
    bot: Dropbell, community: Community, seconds: float, name: str = "Night Moth Tee"
) -> int:
    """A drop opening in ``seconds`` (to the second, which /drop create can't say), then the
    same drop_changed signal /drop create sends."""
    drop = await bot.services.drops.create(
        community.guild.id,
        community.manager.id,
        DropSpec(
            name,
            utcnow() + timedelta(seconds=seconds),
            "UTC",
            10,
            channel_id=community.drops.id,
        ),
    )
    await bot.services.schedule.drop_plan.sync_drop(drop.id)
    return drop.id


# --- /announce --------------------------------------------------------------------------------
async def test_announce_preview_confirm_list_cancel(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    at = local_minutes_ahead(5, "Europe/Berlin")
    preview = await sandbox.slash(
        community.manager,
        "announce schedule",
        {
            "channel": community.drops,
            "message": "Restock of the Night Moth Tee this Friday!",
            "at": at,
            "timezone": "Europe/Berlin",
            "repeat": "weekly",
        },
    )
    assert preview.ephemeral
    assert "Preview" in preview.content and f"{at} Europe/Berlin" in preview.content
    # Nothing is scheduled before Confirm.
    assert await bot.services.schedule.announcements.pending(community.guild.id) == []
    assert preview.message is not None
    confirm = next(cid for cid in preview.message.custom_ids() if ":confirm:" in cid)
    other = community.fans[0]
    refused = await sandbox.click(other, preview.message, confirm)
    assert "Only managers" in refused.content
    done = await sandbox.click(community.manager, preview.message, confirm)
    assert "Scheduled for" in done.content
    assert preview.message.components == []

    pending = await bot.services.schedule.announcements.pending(community.guild.id)
    assert [row.wall_clock for row in pending] == [at]
    assert f"send-{pending[0].id}" in job_ids(bot)

    listed = await sandbox.slash(community.manager, "announce list")
    assert f"{at} Europe/Berlin" in listed.content and "weekly" in listed.content

    choices = await sandbox.autocomplete(
        community.manager, "announce cancel", {"announcement": ""}, focused="announcement"
    )
    assert [choice["value"] for choice in choices] == [str(pending[0].id)]
    cancelled = await sandbox.slash(
        community.manager, "announce cancel", {"announcement": choices[0]["value"]}
    )
    assert "Cancelled" in cancelled.content
    assert await bot.services.schedule.announcements.pending(community.guild.id) == []
    assert f"send-{pending[0].id}" not in job_ids(bot)
    again = await sandbox.slash(
        community.manager, "announce cancel", {"announcement": choices[0]["value"]}
    )
    assert "already cancelled" in again.content


async def test_dst_gap_and_overlap_are_refused(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    base = {"channel": community.drops, "message": "hello", "timezone": "Europe/Berlin"}
    gap = await sandbox.slash(
        community.manager, "announce schedule", {**base, "at": "2027-03-28 02:30"}
    )
    assert gap.ephemeral
    assert "does not exist" in gap.content
    assert "01:59" in gap.content and "03:00" in gap.content
    overlap = await sandbox.slash(
        community.manager, "announce schedule", {**base, "at": "2027-10-31 02:30"}
    )
    assert "happens twice" in overlap.content
    assert await rows(bot) == []


# --- firing -----------------------------------------------------------------------------------
async def test_announcement_fires_once_not_early_and_weekly_keeps_wall_clock(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    due = utcnow() + timedelta(seconds=1.2)
    row = await schedule_announcement(
        bot, community, "Weekly moth meeting", due, zone_name="Europe/Berlin", repeat="weekly"
    )
    await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 5, "the post")

    async def next_one_recorded() -> bool:
        return [r.state for r in await rows(bot)] == ["sent", "pending"]

    await wait_for(next_one_recorded, 5, "the post recorded and the next week's row")
    posted = sandbox.messages(community.drops.id)
    assert markers(posted) == [row.id]
    # Never early (lateness itself is measured by bench/schedule_precision).
    assert posted[0].created_at >= due - timedelta(milliseconds=50)
    sent, following = await rows(bot)
    assert (sent.state, sent.message_id) == ("sent", posted[0].id)
    # Next week at the same wall-clock time in Berlin (DST changes: tests/unit/test_schedule).
    berlin = ZoneInfo("Europe/Berlin")
    next_local = due.astimezone(berlin).replace(second=0, microsecond=0, tzinfo=None)
    next_local += timedelta(weeks=1)
    assert following.wall_clock == next_local.strftime("%Y-%m-%d %H:%M")
    assert following.due_at == next_local.replace(tzinfo=berlin).astimezone(UTC)
    assert f"send-{following.id}" in job_ids(bot)


async def test_drop_countdowns_in_order_then_opening_and_live(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await start_compressed(bot_runner, countdowns=[2, 1], reminders=[])
    drop_id = await create_drop_now(bot, community, 3.0)
    drop = await bot.services.drops.get_any(drop_id)
    assert drop is not None

    def posts() -> list[Message]:
        return [m for m in sandbox.messages(community.drops.id) if MARKER.search(m.content)]

    await wait_for(lambda: len(posts()) >= 3, 8, "two countdowns and the opening")

    async def all_sent() -> bool:
        return {r.state for r in await rows(bot)} == {"sent"}

    await wait_for(all_sent, 5, "every row recorded as sent")
    got = posts()
    assert len(got) == 3
    assert "2 seconds to go" in got[0].content
    assert f"<t:{int(drop.starts_at.timestamp())}:R>" in got[0].content
    assert "— 1 second to go." in got[1].content
    assert "is open now" in got[2].content
    assert got[2].created_at >= drop.starts_at - timedelta(milliseconds=50)
    live = await bot.services.drops.get_any(drop_id)
    assert live is not None and live.status == "live"


async def test_editing_moves_and_cancelling_removes_drop_posts(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await start_compressed(bot_runner, countdowns=[120, 60], reminders=[60, 0])
    starts = local_minutes_ahead(10)
    created = await sandbox.slash(
        community.manager,
        "drop create",
        {
            "name": "Luna Cap",
            "starts_at": starts,
            "timezone": "UTC",
            "stock": 5,
            "channel": community.drops,
        },
    )
    await created.wait_followup()
    drop = (await bot.services.drops.drops(community.guild.id))[0]
    await wait_for(lambda: len(job_ids(bot)) == 5, 3, "5 jobs")
    planned = {(r.kind, r.offset_seconds): r.due_at for r in await rows(bot, state="pending")}
    assert planned == {
        ("countdown", 120): drop.starts_at - timedelta(seconds=120),
        ("countdown", 60): drop.starts_at - timedelta(seconds=60),
        ("opening", 0): drop.starts_at,
        ("reminder", 60): drop.starts_at - timedelta(seconds=60),
        ("reminder", 0): drop.starts_at,
    }

    later = local_minutes_ahead(60 * 24)
    edited = await sandbox.slash(
        community.manager, "drop edit", {"drop": str(drop.id), "starts_at": later}
    )
    await edited.wait_followup()
    moved = await bot.services.drops.get_any(drop.id)
    assert moved is not None

    async def all_moved() -> bool:
        pending = await rows(bot, state="pending")
        return len(pending) == 5 and all(
            r.due_at == moved.starts_at - timedelta(seconds=r.offset_seconds) for r in pending
        )

    await wait_for(all_moved, 3, "the rows to move")
    due = {f"send-{r.id}": r.due_at for r in await rows(bot, state="pending")}
    assert bot.services.schedule.jobs.due_times() == due

    cancelled = await sandbox.slash(community.manager, "drop cancel", {"drop": str(drop.id)})
    await cancelled.wait_followup()
    await wait_for(lambda: not job_ids(bot), 3, "jobs to go")
    assert await rows(bot, state="pending") == []
    assert len(await rows(bot, state="cancelled")) == 5


async def test_cancelled_drop_posts_nothing(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await start_compressed(bot_runner, countdowns=[1], reminders=[0])
    drop_id = await create_drop_now(bot, community, 2.0)
    assert len(job_ids(bot)) == 3
    result = await sandbox.slash(community.manager, "drop cancel", {"drop": str(drop_id)})
    await result.wait_followup()
    # Once its rows are cancelled and out of the scheduler, nothing of the drop can fire.
    await wait_for(lambda: not job_ids(bot), 3, "the drop's jobs to go")
    assert {r.state for r in await rows(bot)} == {"cancelled"}
    assert markers(sandbox.messages(community.drops.id)) == []


# --- reminders --------------------------------------------------------------------------------
async def test_downtime_due_sent_on_start_older_reported_missed(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start()
    await bot.services.guild_settings.update(
        community.guild.id, announce_channel_id=community.general.id, manager_role_id=None
    )
    sends = bot.services.schedule.sends
    await bot_runner.stop()
    # Written while the bot is down: one due a minute ago, one 7 h ago (grace is 6 h).
    recent = await sends.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=utcnow() - timedelta(minutes=1),
        message="Doors open soon",
        timezone="UTC",
    )
    old = await sends.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=utcnow() - timedelta(hours=7),
        message="Yesterday's news",
        timezone="UTC",
    )
    bot = await bot_runner.start()
    await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 5, "the late post")
    await wait_for(lambda: sandbox.messages(community.general.id), 5, "the missed report")
    assert markers(sandbox.messages(community.drops.id)) == [recent.id]
    report = sandbox.messages(community.general.id)[-1].content
    assert "Yesterday's news" in report and "did not post them late" in report

    async def settled() -> bool:
        return {row.id: row.state for row in await rows(bot)} == {
            recent.id: "sent",
            old.id: "missed",
        }

    await wait_for(settled, 5, "sent and missed recorded")


async def test_row_left_sending_is_resolved_by_its_marker(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start()
    schedule = bot.services.schedule
    soon = utcnow() + timedelta(hours=1)
    posted = await schedule.sends.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=soon,
        message="Already out",
        timezone="UTC",
        state="sending",
    )
    unposted = await schedule.sends.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=utcnow() - timedelta(seconds=5),
        message="Never made it",
        timezone="UTC",
        state="sending",
    )
    # The crash came after Discord took the first post and before we recorded it.
    assert schedule.sender is not None
    message_id = await schedule.sender.outbox.post(community.drops.id, render.announcement(posted))
    await bot_runner.stop()
    bot = await bot_runner.start()
    await wait_for(
        lambda: unposted.id in markers(sandbox.messages(community.drops.id)), 5, "the repost"
    )

    async def both_sent() -> bool:
        return {row.state for row in await rows(bot)} == {"sent"}

    await wait_for(both_sent, 15, "both rows recorded as sent")
    assert sorted(markers(sandbox.messages(community.drops.id))) == [posted.id, unposted.id]
    by_id = {row.id: row for row in await rows(bot)}
    assert by_id[posted.id].message_id == message_id


async def test_close_leaves_unsent_pending_and_nothing_fires_after(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot, database_path: Path
) -> None:
    bot = await bot_runner.start()
    row = await schedule_announcement(bot, community, "Later", utcnow() + timedelta(seconds=1.0))
    await bot_runner.stop()  # bot.close(), what SIGTERM does
    # Past the due time: a scheduler left running by close would have claimed the row.
    await asyncio.sleep(1.5)
    assert [(r.id, r.state) for r in await rows_in_file(database_path)] == [(row.id, "pending")]
    assert markers(sandbox.messages(community.drops.id)) == []


async def rows_in_file(database_path: Path) -> list[ScheduledSend]:
    from storage.engine import Database

    database = Database(database_url(database_path))
    async with database, database.read() as connection:
        found = (await connection.execute(select(scheduled_sends))).all()
    return [ScheduledSend.from_row(row) for row in found]
