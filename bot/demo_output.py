"""How the demo prints: every post and answer as a member in one stated zone would read it
(rendered by :mod:`bot.render_markup`), plus the small helpers the script shares."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.render_markup import Viewer, button_labels
from sandbox import InteractionResult, Message, Sandbox
from sandbox.results import message_text

T = TypeVar("T")
R = TypeVar("R")
CONCURRENCY = 32
# The demo reads every post as one viewer would: Discord shows times in the viewer's own zone.
VIEWER_ZONE = "Europe/Berlin"


def viewer_of(sb: Sandbox, as_of: datetime | None = None) -> Viewer:
    """A viewer in VIEWER_ZONE at ``as_of`` (default: now), knowing the sandbox's names."""
    world = sb.world
    moment = {"now": as_of} if as_of is not None else {}
    return Viewer(
        ZoneInfo(VIEWER_ZONE),
        **moment,
        channels={cid: channel.name for cid, channel in world.channels.items()},
        roles={rid: role.name for rid, role in world.roles.items()},
        users={uid: user.global_name or user.name for uid, user in world.users.items()},
    )


@dataclass
class Printer:
    quiet: bool
    started: float = field(default_factory=time.perf_counter)
    sandbox: Sandbox | None = None

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(self.shown(text), flush=True)

    def shown(self, text: str, as_of: datetime | None = None) -> str:
        """``text`` as the Discord client shows it at ``as_of`` (raw before the sandbox is
        known); rendered whole, as markup such as ``-#`` holds only at a line's start."""
        if self.sandbox is None:
            return text
        return viewer_of(self.sandbox, as_of).render(text)

    def heading(self, text: str) -> None:
        self.say(f"\n── {text} " + "─" * max(0, 70 - len(text)))

    def answer(self, who: str, what: str, result: InteractionResult | Message | str) -> None:
        if isinstance(result, InteractionResult):
            kind = "ephemeral" if result.ephemeral else "public"
            text = result.text
        elif isinstance(result, Message):
            kind, text = "followup", message_text(result)
        else:
            kind, text = "note", result
        self.say(f"{who} › {what}  [{kind}]")
        for line in self.shown(text).splitlines() or [""]:
            self.say(f"    {line}")
        components = result.components if not isinstance(result, str) else []
        if button_labels(components):
            self.say(f"    buttons: {buttons_text(components)}")

    def post(self, title: str, message: Message, as_of: datetime | None = None) -> None:
        """A message as read at ``as_of`` (say, when it was posted; default now)."""
        self.say(f"#{title} › message {message.id}")
        for line in self.shown(message_text(message), as_of).splitlines():
            self.say(f"  │ {line}")
        self.say(f"  │ buttons: {buttons_text(message.components) or 'none'}")

    def progress(self, label: str, done: int, total: int) -> None:
        if self.quiet or not sys.stdout.isatty():
            if done == total and not self.quiet:
                print(f"    {label}: {done}/{total}", flush=True)
            return
        width = 30
        filled = int(width * done / total)
        print(f"\r    {label}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="")
        if done == total:
            print(flush=True)


def buttons_text(components: list[dict[str, Any]]) -> str:
    """The buttons as the client shows them; a link button (style 5) opens a page: ``↗``."""
    buttons = [
        item for row in components for item in row.get("components") or [] if item.get("type") == 2
    ]
    return " ".join(
        label.replace("]", " ↗]", 1) if item.get("style") == 5 else label
        for item, label in zip(buttons, button_labels(components), strict=True)
    )


def link_of(components: list[dict[str, Any]]) -> str | None:
    """The URL of a message's link button (Get my link's "Buy now"), if it has one."""
    for row in components:
        for item in row.get("components") or []:
            if item.get("style") == 5 and item.get("url"):
                return str(item["url"])
    return None


def place_of(answer: str) -> int:
    """The place in a Join answer ("You're #7 of 9 …"); 0 when it gives none."""
    found = re.search(r"#(\d+) of", answer)
    return int(found.group(1)) if found else 0


async def bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    on_done: Callable[[int], None] = lambda done: None,
) -> list[R]:
    """Run ``work`` over items with at most CONCURRENCY in flight, reporting progress."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    finished = 0

    async def one(item: T) -> R:
        nonlocal finished
        async with semaphore:
            result = await work(item)
        finished += 1
        on_done(finished)
        return result

    return list(await asyncio.gather(*(one(item) for item in items)))
