"""The schedule's only door to Discord, as a protocol: the cogs implement it with discord.py,
so the schedule stays plain code and its failures are plain exceptions."""

from __future__ import annotations

import re
from typing import Protocol

CLOSED_DMS = 50007
# "You are opening direct messages too fast": a 403 that means later, not never.
OPENING_DMS_TOO_FAST = 40003


class SendFailed(Exception):
    """A send did not happen. ``permanent``: trying again will not help (no access, no channel);
    ``later``: Discord asked us to slow down (40003, a 429): try again after a pause, and do not
    count it as a failed attempt."""

    def __init__(self, text: str, *, permanent: bool, code: int = 0, later: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.permanent = permanent and not later
        self.code = code
        self.later = later


class Unreachable(SendFailed):
    """The fan's DMs are closed (50007): never retried."""

    def __init__(self, text: str) -> None:
        super().__init__(text, permanent=True, code=CLOSED_DMS)


class Outbox(Protocol):
    async def post(
        self,
        channel_id: int,
        content: str,
        *,
        ping_role_id: int | None = None,
        claim_drop_id: int | None = None,
    ) -> int:
        """Post in a channel (with the drop's Get my link button if ``claim_drop_id``); returns
        the message id."""
        ...

    async def find_marker(self, channel_id: int, pattern: re.Pattern[str]) -> int | None:
        """The id of a recent message of ours matching ``pattern``, if any."""
        ...

    async def open_dm(self, user_id: int) -> int:
        """The DM channel id for a user (one request)."""
        ...

    async def dm(self, channel_id: int, content: str, drop_id: int) -> int:
        """Send a reminder DM with its stop button; returns the message id."""
        ...
