"""The interaction handlers running right now, so shutdown can let them finish.

Each handler registers its own task (``asyncio.current_task()``) when it starts: app commands
from the command tree's ``interaction_check``, buttons from their ``callback``. Both run inside
the task discord.py created for that interaction, so no library internals are needed.
"""

from __future__ import annotations

import asyncio


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def track_current(self) -> None:
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def count(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    async def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the handlers (not the caller); how many are late."""
        current = asyncio.current_task()
        running = {task for task in self._tasks if task is not current and not task.done()}
        if not running:
            return 0
        _, late = await asyncio.wait(running, timeout=timeout)
        return len(late)
