"""Small typed events between features, so no feature imports another's adapter.

``drop_changed`` is awaited: the schedule rebuilds a drop's posts before the manager's command
answers. ``waitlist_changed`` is called on every join, so its listeners must be cheap and
synchronous (the announcement refresher only marks the drop dirty).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("dropbell.events")

DropListener = Callable[[int], Awaitable[None]]
WaitlistListener = Callable[[int], None]
OptInListener = Callable[[int], None]


class DropEvents:
    def __init__(self) -> None:
        self._drop_listeners: list[DropListener] = []
        self._waitlist_listeners: list[WaitlistListener] = []
        self._opt_in_listeners: list[OptInListener] = []
        self._restock_listeners: list[DropListener] = []

    def on_drop_changed(self, listener: DropListener) -> Callable[[], None]:
        """Listen to changes of a drop (created, edited, cancelled, opened); returns an undo."""
        self._drop_listeners.append(listener)
        return lambda: self._drop_listeners.remove(listener)

    def on_waitlist_changed(self, listener: WaitlistListener) -> Callable[[], None]:
        self._waitlist_listeners.append(listener)
        return lambda: self._waitlist_listeners.remove(listener)

    def on_reminder_opt_in(self, listener: OptInListener) -> Callable[[], None]:
        """Listen to fans turning reminders on (called with the user id; keep it cheap)."""
        self._opt_in_listeners.append(listener)
        return lambda: self._opt_in_listeners.remove(listener)

    def on_restock(self, listener: DropListener) -> Callable[[], None]:
        """Listen to a live drop getting units back (a restock webhook, /drop edit stock)."""
        self._restock_listeners.append(listener)
        return lambda: self._restock_listeners.remove(listener)

    async def restocked(self, drop_id: int) -> None:
        for listener in list(self._restock_listeners):
            try:
                await listener(drop_id)
            except Exception:
                log.exception("a listener failed to follow the restock of drop %s", drop_id)

    async def drop_changed(self, drop_id: int) -> None:
        for listener in list(self._drop_listeners):
            try:
                await listener(drop_id)
            except Exception:
                # One feature's failure to follow must not undo the change or stop the others.
                log.exception("a listener failed to follow the change of drop %s", drop_id)

    def waitlist_changed(self, drop_id: int) -> None:
        for listener in list(self._waitlist_listeners):
            listener(drop_id)

    def reminder_opted_in(self, user_id: int) -> None:
        for listener in list(self._opt_in_listeners):
            listener(user_id)
