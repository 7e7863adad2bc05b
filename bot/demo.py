"""``dropbell demo``: the real bot against the bundled sandbox, with a scripted community.

Everything here goes through the same path as production: discord.py over HTTP and a websocket
(to 127.0.0.1 only), the real cogs, and a real SQLite file in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.bot import Dropbell
from bot.config import Settings
from bot.endpoints import loopback_connector
from bot.runner import built_bot
from sandbox import InteractionResult, Message, Sandbox, seed_demo_world
from sandbox.results import message_text
from services.localtime import utcnow
from services.stats import percentile
from storage.states import DropStatus

T = TypeVar("T")
CONCURRENCY = 32


@dataclass
class Printer:
    quiet: bool
    started: float = field(default_factory=time.perf_counter)

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)

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
        for line in text.splitlines() or [""]:
            self.say(f"    {line}")

    def post(self, title: str, message: Message) -> None:
        self.say(f"#{title} › message {message.id}")
        for line in message_text(message).splitlines():
            self.say(f"  │ {line}")
        buttons = ", ".join(message.custom_ids()) or "none"
        self.say(f"  │ buttons: {buttons}")

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


async def bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[InteractionResult]],
    on_done: Callable[[int], None],
) -> list[InteractionResult]:
    """Run ``work`` over items with at most CONCURRENCY in flight, reporting progress."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    finished = 0

    async def one(item: T) -> InteractionResult:
        nonlocal finished
        async with semaphore:
            result = await work(item)
        finished += 1
        on_done(finished)
        return result

    return list(await asyncio.gather(*(one(item) for item in items)))


async def run_demo(fans: int = 200, quiet: bool = False) -> int:
    out = Printer(quiet)
    with tempfile.TemporaryDirectory(prefix="dropbell-demo-") as folder:
        sandbox = Sandbox()
        await sandbox.start()
        try:
            return await _script(sandbox, Path(folder) / "dropbell.db", fans, out)
        finally:
            await sandbox.stop()


async def _script(sb: Sandbox, database: Path, fan_count: int, out: Printer) -> int:
    seed = seed_demo_world(sb, fans=fan_count)
    now = datetime.now(UTC)
    newcomer = sb.create_member(seed.guild.id, "newcomer", joined_at=now - timedelta(hours=5))
    ping_role = sb.create_role(seed.guild.id, "Drop pings", mentionable=True)
    settings = Settings.model_validate(
        {
            "discord": {
                "token": "sandbox-demo-token",
                "api_base": sb.api_base,
                "gateway_url": sb.gateway_url,
                "dev_guild_id": seed.guild.id,
            },
            "database": {"url": f"sqlite+aiosqlite:///{database}"},
            # A drop's countdown compressed into seconds, by configuration: posts 4 s and
            # 2 s before opening, reminder DMs 3 s before and at opening.
            "scheduler": {
                "countdown_offsets_minutes": [4 / 60, 2 / 60],
                "reminder_offsets_minutes": [3 / 60, 0],
            },
        }
    )
    out.say("dropbell demo: the real bot, the bundled sandbox, a SQLite file")
    out.say(f"  sandbox {sb.base_url} · server “{seed.guild.name}” · {fan_count} fans · {database}")

    async with built_bot(settings, connector=loopback_connector(), guild_ready_timeout=0.05) as bot:
        runner = asyncio.create_task(bot.start("sandbox-demo-token"))
        started = time.perf_counter()
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        out.say(
            f"  bot logged in and synced {len(sb.commands(seed.guild.id))} commands in "
            f"{time.perf_counter() - started:.2f}s"
        )
        try:
            summary, drop_id, reminded = await _drops_and_waitlists(
                sb, seed, newcomer, ping_role, out
            )
            summary += await _countdown_and_announcements(sb, seed, bot, drop_id, reminded, out)
        finally:
            await bot.close()
            with contextlib.suppress(Exception):
                await runner
    sb.assert_no_unimplemented()
    out.heading("Summary")
    for line in summary:
        print(f"  {line}" if not out.quiet else line, flush=True)
    print(f"  finished in {time.perf_counter() - out.started:.1f}s — demo OK", flush=True)
    return 0


async def _drops_and_waitlists(
    sb: Sandbox, seed: Any, newcomer: Any, ping_role: Any, out: Printer
) -> tuple[list[str], int, list[Any]]:
    manager, fans = seed.manager, seed.fans
    opens_at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d 18:00")

    out.heading("About and setup")
    out.answer("fan1", "/dropbell about", await sb.slash(fans[0], "dropbell about"))
    setup = await sb.slash(
        manager,
        "dropbell setup",
        {"announce_channel": seed.drops, "manager_role": seed.manager_role},
    )
    out.answer("manager", "/dropbell setup", setup)

    out.heading("Creating a drop")
    refused = await sb.slash(
        manager,
        "drop create",
        {
            "name": "Night Moth Tee",
            "starts_at": "2030-03-31 02:30",
            "timezone": "Europe/Berlin",
            "stock": 150,
        },
    )
    out.answer("manager", "/drop create at 02:30 on a spring-forward night", refused)
    not_manager = await sb.slash(
        fans[0],
        "drop create",
        {"name": "Sneaky", "starts_at": opens_at, "timezone": "UTC", "stock": 1},
    )
    out.answer("fan1", "/drop create (not a manager)", not_manager)
    created = await sb.slash(
        manager,
        "drop create",
        {
            "name": "Night Moth Tee",
            "starts_at": opens_at,
            "timezone": "Europe/Berlin",
            "stock": 150,
            "description": "Screen-printed by hand in Leipzig, 150 pieces, glow-in-the-dark ink.",
            "image": sb.attachment("night-moth.png", b"\x89PNG demo", content_type="image/png"),
            "ping_role": ping_role,
            "min_member_days": 1,
        },
    )
    out.answer("manager", "/drop create Night Moth Tee", await created.wait_followup())
    announcement = sb.messages(seed.drops.id)[-1]
    out.post("drops", announcement)
    events = sb.scheduled_events(seed.guild.id)
    out.say(f"Events tab › {events[0]['name']} at {events[0]['scheduled_start_time']}")
    join_id = next(c for c in announcement.custom_ids() if c.startswith("dropbell:join:"))
    remind_id = join_id.replace(":join:", ":remind:")

    out.heading(f"{len(fans)} fans press Join waitlist ({CONCURRENCY} at a time)")
    sb.reset_request_counts()
    started = time.perf_counter()
    joins = await bounded(
        fans,
        lambda fan: sb.click(fan, announcement, join_id, timeout=15),
        lambda done: out.progress("joins", done, len(fans)),
    )
    join_seconds = time.perf_counter() - started
    latencies = [result.latency * 1000 for result in joins]
    rest_calls = sum(sb.request_counts().values())
    out.answer("fan1", "Join waitlist", joins[0])
    out.answer(fans[-1].name, "Join waitlist", joins[-1])
    out.answer("fan1", "Join waitlist again", await sb.click(fans[0], announcement, join_id))
    out.answer(
        "newcomer",
        "Join waitlist (joined the server 5 h ago)",
        await sb.click(newcomer, announcement, join_id),
    )

    out.heading("Leaving, reminders, status")
    leavers = fans[1:11]
    leaves = await bounded(
        leavers,
        lambda fan: sb.slash(fan, "waitlist leave", {"drop": "Night Moth Tee"}),
        lambda done: None,
    )
    out.answer(leavers[0].name, "/waitlist leave", leaves[0])
    # Few enough that their DM channels open (at Discord's slow pace for new DMs, 0.8 a
    # second) while the demo goes on.
    reminded = fans[20:32]
    reminders = await bounded(
        reminded, lambda fan: sb.click(fan, announcement, remind_id), lambda done: None
    )
    out.answer(reminded[0].name, "Remind me", reminders[0])
    out.answer(fans[-1].name, "/waitlist status", await sb.slash(fans[-1], "waitlist status"))

    out.heading("Managers' view")
    out.answer("manager", "/drop list", await sb.slash(manager, "drop list"))
    export = await sb.slash(manager, "drop export", {"drop": "Night Moth Tee"})
    [(filename, data, _)] = export.attachments
    csv_lines = data.decode().splitlines()
    out.answer("manager", "/drop export", export)
    out.say(f"    {filename}: " + " | ".join(csv_lines[:3]) + f" | … ({len(csv_lines) - 1} rows)")

    expected = len(fans) - len(leavers)

    def counted() -> bool:
        latest = sb.world.messages_by_id[announcement.id]
        return any(f["value"] == f"{expected:,} waiting" for f in latest.embeds[0]["fields"])

    for _ in range(100):  # the coalesced edit comes within a few seconds
        if counted():
            break
        await asyncio.sleep(0.1)
    latest = sb.world.messages_by_id[announcement.id]
    out.heading("The announcement now")
    out.post("drops", latest)
    if not counted():
        raise RuntimeError(f"the announcement never showed {expected} waiting")

    drop_id = int(join_id.rsplit(":", 1)[1])
    return (
        [
            f"fans: {len(fans)} joined, {len(leavers)} left, {len(reminded)} asked for reminders",
            f"waitlist: {expected} in CSV order 1..{expected} (export rows: {len(csv_lines) - 1})",
            f"joins: {len(fans) / join_seconds:,.0f}/s, latency p50 "
            f"{statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms",
            f"REST calls during the join burst: {rest_calls} for {len(fans)} joins "
            f"(announcement edits: {latest.edits})",
            f"announcement shows “{expected:,} waiting”; one role ping (@{ping_role.name})",
        ],
        drop_id,
        reminded,
    )


async def _countdown_and_announcements(
    sb: Sandbox, seed: Any, bot: Dropbell, drop_id: int, reminded: list[Any], out: Printer
) -> list[str]:
    out.heading("A countdown compressed into seconds")
    closed = reminded[-1]
    sb.close_dms(closed.id)
    out.say(f"    ({closed.name} has closed DMs; {len(reminded)} fans asked for reminders)")
    reminders = bot.services.schedule.reminders
    warming = time.perf_counter()
    for _ in range(400):
        known = [await reminders.dm_channel(fan.id) for fan in reminded]
        if all(known):
            break
        await asyncio.sleep(0.1)
    out.say(
        f"    DM channels of the {len(reminded)} fans opened in the background, paced for "
        f"Discord ({time.perf_counter() - warming:.1f}s more after the waitlist part)"
    )
    posts_before = len(sb.messages(seed.drops.id))
    started = time.perf_counter()
    # What /drop edit does, to the second (the command itself takes minutes).
    await bot.services.drops.update(
        seed.guild.id, drop_id, starts_at=utcnow() + timedelta(seconds=6)
    )
    out.say(
        "    opening in 6 s: countdown posts at 4 s and 2 s, reminder DMs at 3 s and at opening"
    )

    def opened() -> bool:
        return any(
            "live" in message_text(m).lower() or "open" in message_text(m).lower()
            for m in sb.messages(seed.drops.id)[posts_before + 2 :]
        )

    reachable = [fan for fan in reminded if fan.id != closed.id]

    def all_dms_in() -> bool:
        return all(len(sb.dms(fan.id)) >= 2 for fan in reachable)

    for _ in range(300):
        if opened() and all_dms_in():
            break
        await asyncio.sleep(0.1)
    new_posts = sb.messages(seed.drops.id)[posts_before:]
    for message in new_posts:
        seconds = (message.created_at.timestamp() - time.time()) + (time.perf_counter() - started)
        out.post(f"drops (+{seconds:.1f}s)", message)
    if reachable:
        dm = sb.dms(reachable[0].id)
        out.post(f"DM to {reachable[0].name}", dm[0])
    unreachable = len(await bot.services.schedule.reminders.unreachable())
    out.say(
        f"    DMs to {closed.name}: {len(sb.dms(closed.id))} (recorded unreachable, not retried)"
    )
    drop = await bot.services.drops.get_any(drop_id)
    if not (opened() and all_dms_in()) or drop is None or drop.status != DropStatus.LIVE:
        raise RuntimeError("the compressed countdown did not complete")
    for _ in range(50):  # the announcement follows by a coalesced edit
        if "(open now)" in message_text(sb.world.messages_by_id[drop.message_id or 0]):
            break
        await asyncio.sleep(0.1)
    out.post("drops (the announcement now)", sb.world.messages_by_id[drop.message_id or 0])

    out.heading("Scheduled announcements")
    manager = seed.manager
    local = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d 18:00")
    preview = await sb.slash(
        manager,
        "announce schedule",
        {
            "channel": seed.general,
            "message": "Restock of the Night Moth Tee this Friday!",
            "at": local,
            "timezone": "Europe/Berlin",
            "repeat": "weekly",
        },
    )
    out.answer("manager", "/announce schedule (weekly)", preview)
    assert preview.message is not None
    confirm = next(c for c in preview.message.custom_ids() if ":confirm:" in c)
    out.answer("manager", "Confirm", await sb.click(manager, preview.message, confirm))
    out.answer("manager", "/announce list", await sb.slash(manager, "announce list"))
    dm_count = sum(len(sb.dms(fan.id)) for fan in reminded)
    return [
        f"countdown: {len(new_posts)} posts in #drops, drop now {drop.status}; "
        f"{dm_count} reminder DMs to {len(reachable)} fans, {unreachable} fan unreachable",
    ]
