"""Schedule logic without Discord: repeats across DST, markers, pacing, drop planning, and the
exactly-once claim against a real SQLite file. The outbox is a small fake that implements the
``Outbox`` protocol (checked by mypy), not a mock."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bot import schedule_config
from bot.config import SchedulerSettings
from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.errors import UserError
from services.events import DropEvents
from services.guild_settings import GuildSettingsService
from services.localtime import utcnow
from services.schedule import render
from services.schedule.outbox import Outbox, SendFailed
from services.schedule.pacing import Pacer
from services.schedule.service import ScheduleService
from services.schedule.timing import lenient_utc, next_occurrence
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url

BERLIN = "Europe/Berlin"


# --- repeats and DST ----------------------------------------------------------------------
def test_weekly_keeps_wall_clock_across_spring_forward_and_fall_back() -> None:
    # 2027-03-28: Berlin goes CET (UTC+1) -> CEST (UTC+2); 2027-10-31 back.
    wall, due = next_occurrence(
        "2027-03-21 18:00", BERLIN, "weekly", datetime(2027, 3, 1, tzinfo=UTC)
    )
    assert (wall, due) == ("2027-03-28 18:00", datetime(2027, 3, 28, 16, 0, tzinfo=UTC))
    wall, due = next_occurrence(
        "2027-10-24 18:00", BERLIN, "weekly", datetime(2027, 10, 1, tzinfo=UTC)
    )
    assert (wall, due) == ("2027-10-31 18:00", datetime(2027, 10, 31, 17, 0, tzinfo=UTC))
    assert due.astimezone(ZoneInfo(BERLIN)).hour == 18


def test_repeat_landing_in_a_gap_moves_past_it_and_overlap_takes_the_first() -> None:
    berlin = ZoneInfo(BERLIN)
    gap = lenient_utc(datetime(2027, 3, 28, 2, 30), berlin)
    assert gap.astimezone(berlin).strftime("%H:%M") == "03:30"
    overlap = lenient_utc(datetime(2027, 10, 31, 2, 30), berlin)
    assert overlap == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)


def test_occurrences_missed_while_down_are_skipped_not_burst() -> None:
    after = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    wall, due = next_occurrence("2027-01-01 09:00", "UTC", "daily", after)
    assert (wall, due) == ("2027-01-11 09:00", datetime(2027, 1, 11, 9, 0, tzinfo=UTC))


# --- markers and pacing -------------------------------------------------------------------
def test_marker_of_one_row_does_not_match_another() -> None:
    pattern = render.marker_pattern("ref S1")
    assert pattern.search("hello" + render.marker_line("ref S1"))
    assert not pattern.search("hello" + render.marker_line("ref S12"))


async def test_pacer_spreads_requests_evenly() -> None:
    pacer = Pacer(rate=100)
    loop = asyncio.get_running_loop()
    start = loop.time()
    times = []
    for _ in range(21):
        await pacer.wait()
        times.append(loop.time() - start)
    assert times[-1] == pytest.approx(0.2, abs=0.03)
    # Never more than rate in any one-second window: the gaps are all about 1/rate.
    assert min(b - a for a, b in itertools.pairwise(times)) > 0.005


# --- the service against a real database --------------------------------------------------
class RecordingOutbox:
    """Implements the Outbox protocol: keeps what would have been posted."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, str]] = []
        self.fail_with: SendFailed | None = None

    async def post(
        self,
        channel_id: int,
        content: str,
        *,
        ping_role_id: int | None = None,
        claim_drop_id: int | None = None,
    ) -> int:
        if self.fail_with is not None:
            raise self.fail_with
        self.posts.append((channel_id, content))
        return 1000 + len(self.posts)

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None:
        for index, (channel, content) in enumerate(self.posts):
            if channel == channel_id and pattern.search(content):
                return 1001 + index
        return None

    async def open_dm(self, user_id: int) -> int:
        return user_id + 1

    async def dm(self, channel_id: int, content: str, drop_id: int) -> int:
        self.posts.append((channel_id, content))
        return 1000 + len(self.posts)


@pytest.fixture
async def service(tmp_path: Path):
    database = Database(database_url(tmp_path / "schedule.db"))
    await upgrade(database)
    drops = DropService(database, DropEvents())
    service = ScheduleService(
        database, schedule_config(SchedulerSettings()), GuildSettingsService(database), drops
    )
    yield service
    await service.stop()
    await database.dispose()


async def fire(service: ScheduleService, send_id: int) -> None:
    """What the scheduler does when a row falls due."""
    assert service.sender is not None
    await service.sender.fire(send_id, early=True)  # rows here are due later: fire anyway


async def started(service: ScheduleService) -> RecordingOutbox:
    outbox = RecordingOutbox()
    typed: Outbox = outbox
    await service.start(typed)
    await service.wait_started()
    return outbox


async def test_two_racing_fires_post_once(service: ScheduleService) -> None:
    outbox = await started(service)
    row = await service.sends.insert(
        guild_id=1, kind="announcement", channel_id=5, due_at=utcnow() + timedelta(hours=1),
        message="once", timezone="UTC",
    )  # fmt: skip
    await asyncio.gather(*(fire(service, row.id) for _ in range(5)))
    assert len(outbox.posts) == 1
    sent = await service.sends.get(row.id)
    assert sent is not None and (sent.state, sent.message_id) == ("sent", 1001)


async def test_a_job_cached_before_another_process_moved_its_row_waits(
    service: ScheduleService,
) -> None:
    """The leader's job for a row another process moved later fires at the old time: it must
    not post early, and the sweep (or the job itself) follows the row's new time."""
    outbox = await started(service)
    row = await service.sends.insert(
        guild_id=1, kind="announcement", channel_id=5, due_at=utcnow() + timedelta(hours=1),
        message="later", timezone="UTC",
    )  # fmt: skip
    assert service.sender is not None
    await service.sender.fire(row.id)  # as the stale job would
    assert outbox.posts == []
    assert service.jobs.due_times() == {f"send-{row.id}": row.due_at}
    service.jobs.unschedule(row.id)  # a job lost, or a row this process never saw
    await service.sweep()
    assert service.jobs.due_times() == {f"send-{row.id}": row.due_at}
    await service.sends.transition(row.id, ("pending",), "cancelled")
    await service.sweep()  # cancelled through another process: the job goes
    assert service.jobs.due_times() == {}


async def test_drop_plan_skips_past_offsets_and_follows_edits(service: ScheduleService) -> None:
    await started(service)
    drop = await service.drops.create(
        1, 9, DropSpec("Moth", utcnow() + timedelta(minutes=30), "UTC", 5, channel_id=5)
    )
    await service.drop_plan.sync_drop(drop.id)
    sends = await service.drop_plan.drop_sends(drop.id)
    # 24 h and 1 h before are already past: only 10 min, the opening and the opening reminder.
    assert sorted((s.kind, s.offset_seconds) for s in sends) == [
        ("countdown", 600), ("opening", 0), ("reminder", 0),
    ]  # fmt: skip
    later = await service.drops.update(1, drop.id, starts_at=utcnow() + timedelta(days=3))
    await service.drop_plan.sync_drop(drop.id)
    pending = [s for s in await service.drop_plan.drop_sends(drop.id) if s.state == "pending"]
    assert len(pending) == 6
    assert all(s.due_at == later.starts_at - timedelta(seconds=s.offset_seconds) for s in pending)
    assert {f"send-{s.id}" for s in pending} == set(service.jobs.due_times())
    await service.drops.cancel(1, drop.id)
    await service.drop_plan.sync_drop(drop.id)
    assert all(s.state == "cancelled" for s in await service.drop_plan.drop_sends(drop.id))
    assert set(service.jobs.due_times()) == set()


async def test_permanent_failure_is_reported_and_not_retried(service: ScheduleService) -> None:
    outbox = await started(service)
    row = await service.sends.insert(
        guild_id=1, kind="announcement", channel_id=5, due_at=utcnow() + timedelta(hours=1),
        message="nope", timezone="UTC",
    )  # fmt: skip
    outbox.fail_with = SendFailed("Missing Access", permanent=True, code=50001)
    await fire(service, row.id)
    failed = await service.sends.get(row.id)
    assert failed is not None and failed.state == "failed"


async def test_announcement_validation(service: ScheduleService) -> None:
    soon = utcnow() + timedelta(hours=1)
    with pytest.raises(UserError, match="empty"):
        await service.announcements.draft(1, 5, "  ", soon, "UTC", None, 9)
    with pytest.raises(UserError, match="1,900 or fewer"):
        await service.announcements.draft(1, 5, "x" * 1901, soon, "UTC", None, 9)
    with pytest.raises(UserError, match="in the past"):
        await service.announcements.draft(
            1, 5, "hi", utcnow() - timedelta(minutes=1), "UTC", None, 9
        )
    draft = await service.announcements.draft(1, 5, "hi", soon, BERLIN, "weekly", 9)
    with pytest.raises(UserError, match="isn't yours"):
        await service.announcements.confirm(draft.id, 10)
