"""Scheduled posts end to end: the real bot, the sandbox, real time (due times 1-3 s ahead)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.bot import Dropbell
from bot.localtime import utcnow
from cogs.drops.service import DropSpec
from cogs.schedule.store import ScheduledSend
from sandbox import Sandbox
from sandbox.world import Message
from storage.tables import reminder_deliveries, scheduled_sends
from tests.harness import Community, InProcessBot, wait_for

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
    from zoneinfo import ZoneInfo

    moment = datetime.now(UTC).astimezone(ZoneInfo(zone)) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%d %H:%M")


def compress(bot: Dropbell, countdowns: list[float], reminders: list[float]) -> None:
    """Countdowns and reminders seconds (not hours) before opening, as a drop test needs."""
    service = bot.schedule_service
    service.countdown_offsets = [timedelta(seconds=value) for value in countdowns]
    service.reminder_offsets = [timedelta(seconds=value) for value in reminders]


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
    drop = await bot.drop_service.create(
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
    await bot.schedule_service.sync_drop(drop.id)
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
    assert await bot.schedule_service.pending(community.guild.id) == []
    assert preview.message is not None
    confirm = next(cid for cid in preview.message.custom_ids() if ":confirm:" in cid)
    other = community.fans[0]
    refused = await sandbox.click(other, preview.message, confirm)
    assert "Only managers" in refused.content
    done = await sandbox.click(community.manager, preview.message, confirm)
    assert "Scheduled for" in done.content
    assert preview.message.components == []

    pending = await bot.schedule_service.pending(community.guild.id)
    assert [row.wall_clock for row in pending] == [at]
    assert f"send-{pending[0].id}" in bot.schedule_service.scheduled_job_ids()

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
    assert await bot.schedule_service.pending(community.guild.id) == []
    assert f"send-{pending[0].id}" not in bot.schedule_service.scheduled_job_ids()
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
async def test_announcement_fires_once_on_time_and_weekly_keeps_wall_clock(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    service = bot.schedule_service
    due = utcnow() + timedelta(seconds=1.2)
    # A weekly post whose current occurrence is 2027-03-21 18:00 in Berlin (CET, UTC+1); the
    # clocks go forward on 2027-03-28, so the next must be 18:00 CEST = 16:00 UTC, not 17:00.
    row = await service.add_announcement(
        community.guild.id,
        community.drops.id,
        "Weekly moth meeting",
        due,
        zone_name="Europe/Berlin",
        repeat="weekly",
        wall_clock="2027-03-21 18:00",
    )
    await wait_for(lambda: markers(sandbox.messages(community.drops.id)), 5, "the post")
    posted = sandbox.messages(community.drops.id)
    assert markers(posted) == [row.id]
    lateness = (posted[0].created_at - due).total_seconds()
    assert -0.05 < lateness < 0.5
    await asyncio.sleep(0.5)
    assert markers(sandbox.messages(community.drops.id)) == [row.id]
    sent, following = await rows(bot)
    assert (sent.state, sent.message_id) == ("sent", posted[0].id)
    assert following.state == "pending"
    assert following.wall_clock == "2027-03-28 18:00"
    assert following.due_at == datetime(2027, 3, 28, 16, 0, tzinfo=UTC)


async def test_drop_countdowns_in_order_then_opening_and_live(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    compress(bot, countdowns=[2, 1], reminders=[])
    drop_id = await create_drop_now(bot, community, 3.0)
    drop = await bot.drop_service.get_any(drop_id)
    assert drop is not None

    def posts() -> list[Message]:
        return [m for m in sandbox.messages(community.drops.id) if MARKER.search(m.content)]

    await wait_for(lambda: len(posts()) >= 3, 6, "two countdowns and the opening")
    await asyncio.sleep(0.3)
    got = posts()
    assert len(got) == 3
    assert "2 seconds to go" in got[0].content and f"<t:{int(drop.starts_at.timestamp())}:R>" in (
        got[0].content
    )
    assert "1 seconds to go" in got[1].content or "1 second" in got[1].content
    assert "is open now" in got[2].content
    assert abs((got[2].created_at - drop.starts_at).total_seconds()) < 0.5
    live = await bot.drop_service.get_any(drop_id)
    assert live is not None and live.status == "live"


async def test_editing_moves_and_cancelling_removes_drop_posts(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    compress(bot, countdowns=[120, 60], reminders=[60, 0])
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
    drop = (await bot.drop_service.drops(community.guild.id))[0]
    await wait_for(lambda: len(bot.schedule_service.scheduled_job_ids()) == 5, 3, "5 jobs")
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
    moved = await bot.drop_service.get_any(drop.id)
    assert moved is not None

    async def all_moved() -> bool:
        pending = await rows(bot, state="pending")
        return len(pending) == 5 and all(
            r.due_at == moved.starts_at - timedelta(seconds=r.offset_seconds) for r in pending
        )

    await eventually(all_moved, 3, "the rows to move")
    scheduler = bot.schedule_service.scheduler
    assert scheduler is not None
    due = {f"send-{r.id}": r.due_at for r in await rows(bot, state="pending")}
    assert {job.id: job.next_run_time for job in scheduler.get_jobs()} == due

    cancelled = await sandbox.slash(community.manager, "drop cancel", {"drop": str(drop.id)})
    await cancelled.wait_followup()
    await wait_for(lambda: not bot.schedule_service.scheduled_job_ids(), 3, "jobs to go")
    assert await rows(bot, state="pending") == []
    assert len(await rows(bot, state="cancelled")) == 5


async def eventually(check: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_cancelled_drop_posts_nothing(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    compress(bot, countdowns=[1], reminders=[0])
    drop_id = await create_drop_now(bot, community, 2.0)
    result = await sandbox.slash(community.manager, "drop cancel", {"drop": str(drop_id)})
    await result.wait_followup()
    await asyncio.sleep(2.5)
    assert markers(sandbox.messages(community.drops.id)) == []


# --- reminders --------------------------------------------------------------------------------
async def _opt_in(sandbox: Sandbox, community: Community, bot: Dropbell, fans: list[Any]) -> int:
    """A drop announced with /drop create (minutes ahead), the given fans press Remind me."""
    created = await sandbox.slash(
        community.manager,
        "drop create",
        {
            "name": "Moth Hoodie",
            "starts_at": local_minutes_ahead(30),
            "timezone": "UTC",
            "stock": 50,
            "channel": community.drops,
        },
    )
    await created.wait_followup()
    drop = (await bot.drop_service.drops(community.guild.id))[0]
    assert drop.message_id is not None
    for fan in fans:
        pressed = await sandbox.click(fan, drop.message_id, f"dropbell:remind:{drop.id}")
        assert "Reminders are **on**" in pressed.content
    return drop.id


async def _open_in(bot: Dropbell, community: Community, drop_id: int, seconds: float) -> None:
    """Move the drop's opening to ``seconds`` from now, as /drop edit does (to the second)."""
    await bot.drop_service.update(
        community.guild.id, drop_id, starts_at=utcnow() + timedelta(seconds=seconds)
    )
    bot.dispatch("drop_changed", drop_id)


async def test_reminders_only_to_opted_in_and_closed_dms_not_retried(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    compress(bot, countdowns=[], reminders=[1, 0])
    closed = community.fans[2]
    sandbox.close_dms(closed.id)
    drop_id = await _opt_in(sandbox, community, bot, community.fans[:3])
    await _open_in(bot, community, drop_id, 2.0)

    opted = community.fans[:2]
    await wait_for(lambda: all(len(sandbox.dms(fan.id)) == 2 for fan in opted), 6, "two DMs each")
    await asyncio.sleep(0.5)
    for fan in opted:
        dms = sandbox.dms(fan.id)
        assert len(dms) == 2
        assert "opens <t:" in dms[0].content and "is open now" in dms[1].content
        assert f"dropbell:remindoff:{drop_id}" in dms[0].custom_ids()
    for fan in community.fans[2:]:
        assert sandbox.dms(fan.id) == []
    async with bot.database.read() as connection:
        states = (
            await connection.execute(
                select(reminder_deliveries.c.user_id, reminder_deliveries.c.state)
            )
        ).all()
    # The closed-DM fan was tried once (first reminder), recorded, and skipped at opening.
    assert sorted(state for user, state in states if user == closed.id) == ["unreachable"]
    assert await bot.schedule_service.store.unreachable() == {closed.id}
    closed_attempts = [r for r in sandbox.requests if r[2] == 403]
    assert len(closed_attempts) == 1


async def test_stop_reminders_button_in_dm(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    compress(bot, countdowns=[], reminders=[2, 0])
    fan = community.fans[0]
    drop_id = await _opt_in(sandbox, community, bot, [fan])
    await _open_in(bot, community, drop_id, 2.6)
    await wait_for(lambda: len(sandbox.dms(fan.id)) == 1, 4, "the first reminder")
    first = sandbox.dms(fan.id)[0]
    stopped = await sandbox.click(fan, first, f"dropbell:remindoff:{drop_id}")
    assert "are off" in stopped.content and stopped.ephemeral
    await asyncio.sleep(2.6)
    assert len(sandbox.dms(fan.id)) == 1


async def test_rate_limited_reminders_all_arrive(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    fans = [sandbox.create_member(community.guild.id, f"moth{i}") for i in range(24)]
    compress(bot, countdowns=[], reminders=[0.5])
    drop_id = await _opt_in(sandbox, community, bot, fans)
    # The sandbox allows 20 requests/s in all; the queue is told 40/s so it meets 429s and
    # must honour them (discord.py waits out retry_after) without losing a DM.
    sandbox.global_rate_limit(20)
    bot.schedule_service.dm_queue.set_rate(40, share=1.0)
    await _open_in(bot, community, drop_id, 1.0)
    await wait_for(lambda: all(sandbox.dms(fan.id) for fan in fans), 15, "every reminder")
    await asyncio.sleep(0.3)
    assert all(len(sandbox.dms(fan.id)) == 1 for fan in fans)
    assert sandbox.stats["429"] > 0


# --- restarts ---------------------------------------------------------------------------------
async def test_downtime_due_sent_on_start_older_reported_missed(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start()
    await bot.guild_settings.update(
        community.guild.id, announce_channel_id=community.general.id, manager_role_id=None
    )
    service = bot.schedule_service
    await bot_runner.stop()
    # Written while the bot is down: one due a minute ago, one 7 h ago (grace is 6 h).
    recent = await service.store.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=utcnow() - timedelta(minutes=1),
        message="Doors open soon",
        timezone="UTC",
    )
    old = await service.store.insert(
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
    states = {row.id: row.state for row in await rows(bot)}
    assert states == {recent.id: "sent", old.id: "missed"}


async def test_row_left_sending_is_resolved_by_its_marker(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start()
    service = bot.schedule_service
    store = service.store
    soon = utcnow() + timedelta(hours=1)
    posted = await store.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=soon,
        message="Already out",
        timezone="UTC",
        state="sending",
    )
    unposted = await store.insert(
        guild_id=community.guild.id,
        kind="announcement",
        channel_id=community.drops.id,
        due_at=utcnow() - timedelta(seconds=5),
        message="Never made it",
        timezone="UTC",
        state="sending",
    )
    # The crash came after Discord took the first post and before we recorded it.
    from cogs.schedule import render

    assert service.outbox is not None
    message_id = await service.outbox.post(community.drops.id, render.announcement(posted))
    await bot_runner.stop()
    bot = await bot_runner.start()
    await wait_for(
        lambda: unposted.id in markers(sandbox.messages(community.drops.id)), 5, "the repost"
    )
    await asyncio.sleep(0.3)
    assert sorted(markers(sandbox.messages(community.drops.id))) == [posted.id, unposted.id]
    by_id = {row.id: row for row in await rows(bot)}
    assert (by_id[posted.id].state, by_id[posted.id].message_id) == ("sent", message_id)
    assert by_id[unposted.id].state == "sent"


async def test_sigterm_like_close_leaves_unsent_pending(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot, database_path: Path
) -> None:
    bot = await bot_runner.start()
    row = await bot.schedule_service.add_announcement(
        community.guild.id, community.drops.id, "Later", utcnow() + timedelta(seconds=30)
    )
    await bot_runner.stop()  # bot.close(), what SIGTERM does
    assert [r.state for r in await rows_in_file(database_path)] == ["pending"]
    assert row.id == (await rows_in_file(database_path))[0].id


async def rows_in_file(database_path: Path) -> list[ScheduledSend]:
    from storage.engine import Database

    database = Database(f"sqlite+aiosqlite:///{database_path}")
    async with database, database.read() as connection:
        found = (await connection.execute(select(scheduled_sends))).all()
    return [ScheduledSend.from_row(row) for row in found]


async def test_demo_hook_compressed_countdown(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    from cogs.schedule.demo import compressed_countdown

    fan = community.fans[0]
    drop_id = await _opt_in(sandbox, community, bot, [fan])
    starts_at = await compressed_countdown(
        bot, community.guild.id, drop_id, opens_in=2.5, countdowns=(1.5,), reminders=(1.0, 0.0)
    )
    await wait_for(lambda: len(sandbox.dms(fan.id)) == 2, 6, "both reminders")
    posts = [m.content for m in sandbox.messages(community.drops.id) if MARKER.search(m.content)]
    assert len(posts) == 2 and "to go" in posts[0] and "is open now" in posts[1]
    drop = await bot.drop_service.get_any(drop_id)
    assert drop is not None and drop.status == "live" and drop.starts_at == starts_at
