"""Discord markup as a Discord client would show it, for the demo's terminal.

The bot writes ``<t:UNIX:F>``, ``<#id>``, ``<@&id>`` and ``**bold**`` because Discord renders
them for each viewer; a terminal prints them raw, which a brand owner cannot read. This renders
them in one stated zone (a viewer's), with names instead of ids, and buttons by their labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.text import plural

TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
CHANNEL = re.compile(r"<#(\d+)>")
ROLE = re.compile(r"<@&(\d+)>")
USER = re.compile(r"<@!?(\d+)>")
BOLD = re.compile(r"\*\*(.+?)\*\*")
SUBTEXT = re.compile(r"^-# ", re.MULTILINE)
# Discord's styles, in English: F and f are the long and short date with time.
STYLES = {
    "t": "%H:%M",
    "T": "%H:%M:%S",
    "d": "%d/%m/%Y",
    "D": "%d %B %Y",
    "f": "%a %d %b %H:%M %Z",
    "F": "%a %d %b %H:%M %Z",
}
# Units for "in 2 days" / "5 minutes ago", largest first, as Discord rounds them.
UNITS = (
    (365 * 86_400, "year"),
    (30 * 86_400, "month"),
    (86_400, "day"),
    (3_600, "hour"),
    (60, "minute"),
    (1, "second"),
)


def relative(moment: datetime, now: datetime) -> str:
    """``<t:…:R>``: "in 2 days", "5 minutes ago", "now"."""
    seconds = round((moment - now).total_seconds())
    if seconds == 0:
        return "now"
    size = abs(seconds)
    for unit, word in UNITS:
        if size >= unit:
            amount = plural(round(size / unit), word)
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    raise AssertionError("unreachable: size >= 1")


@dataclass(frozen=True)
class Viewer:
    """Who reads: their zone and clock, and the names the ids stand for."""

    zone: ZoneInfo
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    channels: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)
    users: Mapping[int, str] = field(default_factory=dict)

    def when(self, moment: datetime, style: str = "F") -> str:
        if style == "R":
            return relative(moment, self.now)
        return moment.astimezone(self.zone).strftime(STYLES[style])

    def render(self, text: str) -> str:
        def stamp(match: re.Match[str]) -> str:
            moment = datetime.fromtimestamp(int(match.group(1)), UTC)
            return self.when(moment, match.group(2) or "f")

        def named(names: Mapping[int, str], prefix: str, unknown: str) -> Any:
            def replace(match: re.Match[str]) -> str:
                return prefix + names.get(int(match.group(1)), unknown)

            return replace

        text = TIMESTAMP.sub(stamp, text)
        text = CHANNEL.sub(named(self.channels, "#", "unknown-channel"), text)
        text = ROLE.sub(named(self.roles, "@", "unknown-role"), text)
        text = USER.sub(named(self.users, "@", "unknown-user"), text)
        text = BOLD.sub(r"\1", text)
        return SUBTEXT.sub("", text)


def button_labels(components: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every button of a message's action rows as the client shows it: ``[Label]``."""
    labels = []
    for row in components:
        for item in row.get("components") or []:
            if item.get("type") == 2:  # a button
                label = item.get("label") or item.get("emoji", {}).get("name") or "?"
                muted = " (disabled)" if item.get("disabled") else ""
                labels.append(f"[{label}]{muted}")
    return labels
