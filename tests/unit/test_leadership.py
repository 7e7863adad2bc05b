"""Leadership's rules with a lock the test holds or frees (the real one is a PostgreSQL advisory
lock: tests/e2e/test_leadership.py kills a leader for real)."""

from __future__ import annotations

import asyncio

from services.leadership import Leadership
from tests.harness import wait_for


class HeldElsewhere:
    """A shared lock another process holds until ``free`` is set; ``lost`` breaks it."""

    shared = True

    def __init__(self) -> None:
        self.free = False
        self.lost = False
        self.held = False

    async def try_acquire(self) -> bool:
        self.held = self.free
        return self.held

    async def still_held(self) -> bool:
        return self.held and not self.lost

    async def release(self) -> None:
        self.held = False


class Own:
    """A database only this process uses (SQLite)."""

    shared = False

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def sweep(self) -> None:
        self.events.append("sweep")


async def test_a_follower_starts_its_duties_only_once_it_holds_the_lock() -> None:
    lock, duty = HeldElsewhere(), Recorder()
    leadership = Leadership(lock, poll_seconds=0.01)
    await leadership.begin()
    await leadership.take_on("schedule", duty.start, duty.stop, duty.sweep)
    await asyncio.sleep(0.05)
    assert not leadership.leading and duty.events == []
    lock.free = True  # the leader died: its lock went with its connection
    await wait_for(lambda: "sweep" in duty.events, 2, "the takeover and a first sweep")
    assert leadership.leading and duty.events[0] == "start"
    lock.lost = True  # our own connection broke: someone else may lead now
    lock.free = False
    await wait_for(lambda: not leadership.leading, 2, "stepping down")
    assert duty.events[-1] == "stop" and duty.events.count("start") == 1
    await leadership.end()
    assert duty.events.count("stop") == 1


async def test_alone_on_its_database_a_process_leads_at_once_and_never_sweeps() -> None:
    duty = Recorder()
    leadership = Leadership(Own(), poll_seconds=0.01)
    await leadership.take_on("schedule", duty.start, duty.stop, duty.sweep)
    assert duty.events == ["start"]  # before begin(): the cogs load first in some tests
    await leadership.begin()
    await asyncio.sleep(0.05)
    await leadership.give_up("schedule")
    assert duty.events == ["start", "stop"]
    await leadership.end()
