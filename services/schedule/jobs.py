"""The in-memory APScheduler: only a cache of the ``scheduled_sends`` table.

One date job per pending row, rebuilt from the rows every time the service starts and changed
whenever a row changes. APScheduler's own misfire handling is switched off on purpose
(``misfire_grace_time=None``, ``coalesce=True``): its default grace of 1 s would silently drop a
job that is a second late after a restart. Lateness is decided from the table instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from storage.schedule import ScheduledSend

Fire = Callable[[int], Awaitable[None]]


class JobCache:
    def __init__(self, fire: Fire) -> None:
        self.fire = fire
        self._scheduler: AsyncIOScheduler | None = None
        self._closed = True

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._scheduler.start()
        self._closed = False

    def stop(self) -> None:
        self._closed = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return not self._closed and self._scheduler is not None and self._scheduler.running

    @staticmethod
    def job_id(send_id: int) -> str:
        return f"send-{send_id}"

    @staticmethod
    def send_id(job_id: str) -> int:
        return int(job_id.removeprefix("send-"))

    def schedule(self, row: ScheduledSend) -> None:
        if not self.running:
            return  # the table keeps it; the next start schedules it
        assert self._scheduler is not None
        self._scheduler.add_job(
            self.fire,
            trigger=DateTrigger(run_date=row.due_at, timezone=UTC),
            args=[row.id],
            id=self.job_id(row.id),
            replace_existing=True,
        )

    def unschedule(self, send_id: int) -> None:
        if self._scheduler is None or not self._scheduler.running:
            return
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(self.job_id(send_id))

    def due_times(self) -> dict[str, object]:
        """Job id -> next run time, for what is cached now."""
        if self._scheduler is None or not self._scheduler.running:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}
