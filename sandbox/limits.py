"""Discord's rules the sandbox enforces, the numbers behind them, and how a test relaxes one.

Every rule is ON by default. A test (or the demo) turns one off only by naming it and saying
why: ``sb.relax("dm_open_pacing", reason="measures DM throughput, not pacing")``. The numbers
live in :class:`Limits`; where Discord does not publish a number, the default is the sandbox's
own conservative model and says so.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass

# Rule name -> what Discord does that the sandbox copies.
RULES: dict[str, str] = {
    "global_rate_limit": "50 requests/s per bot; interaction callbacks and followups exempt",
    "channel_send_limit": "POST /channels/{id}/messages has its own bucket per channel",
    "old_message_edits": "edits to messages older than 1 hour are capped (429, code 30046)",
    "dm_open_pacing": "opening new DM channels too fast is refused (403, code 40003)",
    "message_validation": "content, embed and component limits on every message route (50035)",
    "command_validation": "application command schema limits on sync (50035)",
    "interaction_token_expiry": "interaction tokens die after 15 minutes (401, code 50027)",
    "attachment_expiry": "attachments given as command options stop being served (404)",
    "privileged_intents": "IDENTIFY with a privileged intent not granted closes with 4014",
    "scheduled_event_rules": "required fields, automatic status, finished events frozen",
    "member_role_limit": "adding and removing a member's role share a bucket per guild",
}


@dataclass
class Limits:
    """The numbers behind the rules. Change them on ``sb.limits`` before the bot acts."""

    # Discord's documented global limit.
    global_per_second: int = 50
    # The bucket commonly observed for bots on POST /channels/{id}/messages.
    channel_sends: int = 5
    channel_send_window: float = 5.0
    # Sandbox model (Discord publishes no number): a message older than one hour may be edited
    # at most 3 times per rolling hour. A live counter edited every few seconds fails at once;
    # a handful of corrections to an old announcement does not.
    old_message_age: float = 3600.0
    old_message_edits: int = 3
    old_message_edit_window: float = 3600.0
    # Sandbox model (Discord publishes no number): at most 10 NEW DM channels per 10 s
    # (about one per second sustained). Re-opening an existing DM channel is free.
    dm_opens: int = 10
    dm_open_window: float = 10.0
    # Discord's documented interaction token lifetime.
    interaction_token_lifetime: float = 15 * 60.0
    # Sandbox model: an attachment given as a command option is served as long as the
    # interaction's token lives; after that a bot must already hold the bytes.
    option_attachment_lifetime: float = 15 * 60.0
    # Sandbox model (Discord publishes no number; bots commonly observe about this): adding
    # and removing members' roles, 10 per 10 s per guild.
    member_role_edits: int = 10
    member_role_window: float = 10.0
    # Discord bans a bot for 10,000 invalid requests (401/403/429) within 10 minutes.
    invalid_request_window: float = 600.0


class RuleBook:
    """Which rules are enforced; a relaxed rule keeps the reason it was relaxed for."""

    def __init__(self) -> None:
        self.relaxed: dict[str, str] = {}

    def relax(self, rule: str, *, reason: str) -> None:
        if rule not in RULES:
            raise ValueError(f"sandbox: no rule {rule!r} (rules: {', '.join(sorted(RULES))})")
        if not reason.strip():
            raise ValueError(f"sandbox: relaxing {rule!r} needs a reason")
        self.relaxed[rule] = reason

    def enforce(self, rule: str) -> None:
        if rule not in RULES:
            raise ValueError(f"sandbox: no rule {rule!r}")
        self.relaxed.pop(rule, None)

    def on(self, rule: str) -> bool:
        return rule not in self.relaxed


class SlidingCounter:
    """Events within the last ``window`` seconds (monotonic clock)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def count(self, window: float, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] <= now - window:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def retry_after(self, window: float, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(self._times[0] + window - now, 0.001) if self._times else 0.0


class InvalidRequests:
    """401, 403 and 429 answers over a sliding window, as Discord counts them toward a ban.

    A 429 whose scope is ``shared`` does not count (Discord says so for shared buckets)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: deque[tuple[float, str]] = deque()

    def record(self, status: int, code: int, scope: str | None = None) -> None:
        if status in (401, 403) or (status == 429 and scope != "shared"):
            self._seen.append((time.monotonic(), f"{status}/{code}"))

    def _prune(self) -> None:
        cutoff = time.monotonic() - self.window
        while self._seen and self._seen[0][0] <= cutoff:
            self._seen.popleft()

    def count(self) -> int:
        self._prune()
        return len(self._seen)

    def breakdown(self) -> Counter[str]:
        """``{"403/40003": 12, "429/0": 3, ...}`` (status/JSON code) within the window."""
        self._prune()
        return Counter(key for _, key in self._seen)
