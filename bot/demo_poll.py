"""The demo's pre-order poll: before the drop, the community says which colour it would buy.

The manager runs ``/poll create``; fans commit through the poll's real option and quantity
buttons; the goal announcement is posted; the manager closes the poll with ``/poll close``
(time is compressed only by closing early, as a manager may) and reads ``/poll results``,
whose chart and CSV the demo writes into its output folder.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.demo_dropday_plan import until
from bot.demo_output import CONCURRENCY, VIEWER_ZONE, Printer, bounded, buttons_text
from sandbox import InteractionResult, Message, Sandbox
from sandbox.results import message_text
from services.text import plural

QUESTION = "Which colour should the Luna Moth Hoodie come in?"
# Name, price (EUR): what the manager types as `Name @ price; ...`.
OPTIONS = (("Moth Green", 65), ("Bone White", 65), ("Midnight Blue", 72))
VOTERS = 24  # fans who commit, at most (a smaller crowd: everyone)
TALLY_LINE = re.compile(r"^\s*(.+?): (\d+) units? from (\d+) fans?(?: · ([\d.,]+) EUR)?$")


@dataclass(frozen=True)
class Panel:
    text: str
    components: list[dict[str, Any]]


@dataclass(frozen=True)
class Pledge:
    fan: Any
    option: int
    quantity: int


def pledges_for(fans: list[Any]) -> list[Pledge]:
    """Who commits to what: most like green, a few white, fewer blue; 1 to 3 each."""
    voters = fans[: min(VOTERS, len(fans))]
    return [
        Pledge(fan, option=(0, 0, 1, 0, 2, 1)[n % 6], quantity=1 + (n * 7) % 3)
        for n, fan in enumerate(voters)
    ]


def expected_tally(pledges: list[Pledge]) -> dict[str, tuple[int, int]]:
    """Per option name: (units, fans), counted from what the script pressed."""
    tally: dict[str, tuple[int, int]] = {}
    for index, (name, _) in enumerate(OPTIONS):
        mine = [p for p in pledges if p.option == index]
        tally[name] = (sum(p.quantity for p in mine), len(mine))
    return tally


def goal_for(pledges: list[Pledge]) -> int:
    """A goal the crowd reaches about three quarters of the way through."""
    return max(1, sum(p.quantity for p in pledges) * 3 // 4)


def closing_time(now: datetime) -> datetime:
    """An hour after ``now`` (an aware local time), or later if that wall-clock time is
    skipped or repeated by a daylight-saving change, which /poll create refuses."""
    for hours in range(1, 4):
        wall = (now + timedelta(hours=hours)).replace(tzinfo=None, fold=0)
        if wall.replace(tzinfo=now.tzinfo).utcoffset() == (
            wall.replace(tzinfo=now.tzinfo, fold=1).utcoffset()
        ):
            return wall
    raise RuntimeError("no closing time in the next hours")


class PrePoll:
    """The poll part of the demo; ``run`` returns the summary lines."""

    def __init__(self, sb: Sandbox, seed: Any, folder: Path, out: Printer) -> None:
        self.sb, self.seed, self.folder, self.out = sb, seed, folder, out
        self.pledges = pledges_for(list(seed.fans))
        self.goal = goal_for(self.pledges)

    async def run(self) -> list[str]:
        started = time.perf_counter()
        post = await self._create()
        first_button = next(c for c in post.custom_ids() if c.startswith("dropbell:poll:"))
        poll_id = int(first_button.split(":")[2])
        await self._commit(post, poll_id)
        await self._close(poll_id)
        tally, chart = await self._results(poll_id)
        units = sum(u for u, _ in tally.values())
        return [
            f"poll: {plural(len(self.pledges), 'fan')} committed {plural(units, 'unit')} "
            f"(goal {self.goal}, reached): "
            + ", ".join(f"{name} {u}" for name, (u, _) in tally.items())
            + f"; the poll part took {time.perf_counter() - started:.1f}s",
            f"poll chart: {chart}",
        ]

    async def _create(self) -> Message:
        sb, out, manager, drops = self.sb, self.out, self.seed.manager, self.seed.drops
        out.heading("A pre-order poll before the drop")
        # Closing an hour or so ahead; the manager closes it early with /poll close.
        closes = closing_time(datetime.now(ZoneInfo(VIEWER_ZONE)))
        options = "; ".join(f"{name} @ {price}" for name, price in OPTIONS)
        created = await sb.slash(
            manager,
            "poll create",
            {
                "question": QUESTION,
                "options": options,
                "goal": self.goal,
                "closes_at": closes.strftime("%Y-%m-%d %H:%M"),
                "timezone": VIEWER_ZONE,
                "channel": drops,
            },
        )
        out.answer(
            "manager",
            f"/poll create options:“{options}” goal:{self.goal}",
            await created.wait_followup(),
        )
        post = sb.messages(drops.id)[-1]
        out.post("drops", post)
        return post

    async def _commit(self, post: Message, poll_id: int) -> None:
        sb, out, pledges = self.sb, self.out, self.pledges
        out.heading(
            f"{plural(len(pledges), 'fan')} commit: an option, then how many "
            f"({CONCURRENCY} at a time)"
        )
        posts_before = len(sb.messages(self.seed.drops.id))

        async def press(pledge: Pledge) -> tuple[Panel, InteractionResult]:
            panel = await sb.click(
                pledge.fan, post, f"dropbell:poll:{poll_id}:{pledge.option}", timeout=15
            )
            if panel.message is None:
                raise RuntimeError(f"the option button gave {pledge.fan.name} no panel")
            # The panel as the fan first sees it: pressing a number edits it in place.
            shown = Panel(panel.text, copy.deepcopy(panel.components))
            committed = await sb.click(
                pledge.fan,
                panel.message,
                f"dropbell:commit:{poll_id}:{pledge.option}:{pledge.quantity}",
                timeout=15,
            )
            return shown, committed

        answers = await bounded(
            pledges, press, lambda done: out.progress("commitments", done, len(pledges))
        )
        first = pledges[0]
        name = OPTIONS[first.option][0]
        panel = answers[0][0]
        out.say(f"{first.fan.name} › [{name} · {OPTIONS[first.option][1]:.2f} EUR]  [ephemeral]")
        for line in out.shown(panel.text).splitlines():
            out.say(f"    {line}")
        out.say(f"    buttons: {buttons_text(panel.components)}")
        out.answer(first.fan.name, f"[{first.quantity}]  (the same panel, edited)", answers[0][1])

        def goal_post() -> Message | None:
            return next(
                (
                    m
                    for m in sb.messages(self.seed.drops.id)[posts_before:]
                    if "reached its goal" in m.content
                ),
                None,
            )

        await until(lambda: goal_post() is not None, 15, "the poll's goal announcement")
        found = goal_post()
        assert found is not None
        out.post("drops", found, as_of=found.created_at)
        # The poll post follows by coalesced edits, never one per press.
        total = sum(p.quantity for p in pledges)
        shows_all = f"{total:,} of {self.goal:,} units"

        def refreshed() -> bool:
            latest = sb.world.messages_by_id[post.id]
            return shows_all in message_text(latest)

        await until(refreshed, 15, "the poll post's tally")
        latest = sb.world.messages_by_id[post.id]
        out.post(f"drops (the poll now, after {plural(latest.edits, 'edit')})", latest)

    async def _close(self, poll_id: int) -> None:
        sb, out, drops = self.sb, self.out, self.seed.drops
        posts_before = len(sb.messages(drops.id))
        closed = await sb.slash(self.seed.manager, "poll close", {"poll": str(poll_id)})
        out.answer("manager", "/poll close", await closed.wait_followup(timeout=15))
        await until(
            lambda: any(m.content.startswith("📊") for m in sb.messages(drops.id)[posts_before:]),
            15,
            "the poll's results post",
        )
        results = next(
            m for m in sb.messages(drops.id)[posts_before:] if m.content.startswith("📊")
        )
        out.post("drops", results)

    async def _results(self, poll_id: int) -> tuple[dict[str, tuple[int, int]], Path]:
        sb, out = self.sb, self.out
        answer = await sb.slash(self.seed.manager, "poll results", {"poll": str(poll_id)})
        final = await answer.wait_followup(timeout=15)
        out.answer("manager", "/poll results", final)
        files = {f.filename: f.data for f in final.attachments}
        written = []
        for filename, data in sorted(files.items()):
            path = self.folder / filename
            path.write_bytes(data)
            written.append(path)
            out.say(f"    {filename} ({len(data):,} bytes) written to {path}")
        chart = next((p for p in written if p.suffix == ".png"), None)
        if chart is None or not chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"):
            raise RuntimeError("/poll results gave no PNG chart")

        shown = out.shown(final.content)
        tally: dict[str, tuple[int, int]] = {}
        values: dict[str, str] = {}
        for line in shown.splitlines():
            found = TALLY_LINE.match(line)
            if found:
                tally[found.group(1)] = (int(found.group(2)), int(found.group(3)))
                values[found.group(1)] = f"{found.group(4) or '0.00'} EUR"
        expected = expected_tally(self.pledges)
        out.say("    the tally, option by option (fans · units · value):")
        for name, _ in OPTIONS:
            units, fans = tally.get(name, (0, 0))
            out.say(
                f"      {name:<14} {plural(fans, 'fan'):>8} · {plural(units, 'unit'):>9} · "
                f"{values.get(name, '?')}"
            )
        ok = tally == {name: expected[name] for name in tally} and set(tally) == set(expected)
        out.say(
            f"    {'✓' if ok else '✗'} the tally matches what the fans pressed "
            f"({sum(u for u, _ in expected.values())} units from {len(self.pledges)} fans)"
        )
        if not ok:
            raise RuntimeError(f"the poll's tally {tally} is not what was pressed {expected}")
        return tally, chart
