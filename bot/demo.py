"""``dropbell demo``: the real bot against the bundled sandbox, with a scripted community.

Everything here goes through the same path as production: discord.py over HTTP and a websocket
(to 127.0.0.1 only), the real cogs, and a real SQLite file in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bot import Dropbell
from bot.config import Settings
from bot.demo_dropday import DropDay
from bot.demo_dropday_plan import shop_sections, stock_shop
from bot.demo_output import CONCURRENCY, VIEWER_ZONE, Printer, bounded, place_of
from bot.demo_poll import PrePoll
from bot.demo_returning import SecondDrop
from bot.endpoints import loopback_connector
from bot.runner import built_bot
from sandbox import Sandbox, seed_demo_world
from sandbox.models import BOT_DEFAULT, MANAGE_ROLES
from sandbox.results import message_text
from sandbox.shop import SandboxShop
from services.localtime import utcnow
from services.stats import percentile
from services.text import plural
from storage.states import DropStatus


async def run_demo(fans: int = 200, quiet: bool = False, folder: Path | None = None) -> int:
    """Run the demo; its SQLite file and the poll's chart and CSV go to ``folder`` (default: a
    new temporary folder, kept afterwards so the chart can be opened)."""
    out = Printer(quiet)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="dropbell-demo-"))
    sandbox = Sandbox()
    await sandbox.start()
    try:
        async with SandboxShop() as shop:
            stock_shop(shop, fans)
            return await _script(sandbox, shop, folder / "dropbell.db", fans, out)
    finally:
        await sandbox.stop()


async def _script(
    sb: Sandbox, shop: SandboxShop, database: Path, fan_count: int, out: Printer
) -> int:
    if fan_count < 1:
        raise ValueError("the demo needs at least one fan")
    seed = seed_demo_world(sb, fans=fan_count)
    # The bot was invited with Manage Roles: collector tiers hand out roles.
    sb.set_bot_permissions(seed.guild.id, BOT_DEFAULT | MANAGE_ROLES)
    out.sandbox = sb
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
            "web": {"port": 0},
            # A drop's countdown compressed into seconds, by configuration: posts 4 s and
            # 2 s before opening, reminder DMs 3 s before and at opening.
            "scheduler": {
                "countdown_offsets_minutes": [4 / 60, 2 / 60],
                "reminder_offsets_minutes": [3 / 60, 0],
            },
            # The sandbox shop, connected as an operator would ([shops.sandbox]), and holds of
            # a few seconds ([drops] hold_minutes) for the drop day.
            **shop_sections(shop),
        }
    )
    out.say("dropbell demo: the real bot, the bundled sandbox, a SQLite file")
    out.say(
        f"  sandbox {sb.base_url} · server “{seed.guild.name}” · "
        f"{plural(fan_count, 'fan')} · {database}"
    )
    out.say(f"  sandbox shop {shop.base_url} (Stripe-shaped API, signed webhooks)")
    out.say(f"  the SQLite file and the poll's chart and CSV stay in {database.parent}")
    out.say(f"  times are shown as a member in {VIEWER_ZONE} sees them")

    async with built_bot(settings, connector=loopback_connector(), guild_ready_timeout=0.05) as bot:
        runner = asyncio.create_task(bot.start("sandbox-demo-token"))
        started = time.perf_counter()
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        # The shop sends its webhooks to the bot's own listener (web.port 0: a free port).
        shop.stripe.webhook_urls[:] = [f"http://127.0.0.1:{bot.web_port}/webhooks/sandbox"]
        out.say(
            f"  bot logged in and synced {plural(len(sb.commands(seed.guild.id)), 'command')} in "
            f"{time.perf_counter() - started:.2f}s"
        )
        try:
            summary, drop_id, reminded = await _drops_and_waitlists(
                sb, seed, newcomer, ping_role, out
            )
            summary += await _countdown_and_announcements(sb, seed, bot, drop_id, reminded, out)
            summary += await PrePoll(sb, seed, database.parent, out).run()
            closed = reminded[-1] if len(reminded) > 1 else None  # closed DMs (see the countdown)
            drop_day = DropDay(sb, seed, bot, shop, reminded, closed, newcomer, out)
            summary += await drop_day.run()
            summary += await SecondDrop(
                sb, seed, bot, shop, drop_day.buyers, database.parent, out
            ).run()
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
    out.answer("manager", "/dropbell setup (no options)", await sb.slash(manager, "dropbell setup"))

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
    out.answer(
        "manager", "/drop create at 02:30 on a spring-forward night", await refused.wait_final()
    )
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
    [event] = sb.scheduled_events(seed.guild.id)
    start = datetime.fromisoformat(event["scheduled_start_time"])
    where = (event.get("entity_metadata") or {}).get("location", "")
    out.say(
        f"Events tab › {event['name']}: <t:{int(start.timestamp())}:F> "
        f"(<t:{int(start.timestamp())}:R>), {where}"
    )
    join_id = next(c for c in announcement.custom_ids() if c.startswith("dropbell:join:"))
    remind_id = join_id.replace(":join:", ":remind:")

    out.heading(f"{plural(len(fans), 'fan')} press Join waitlist ({CONCURRENCY} at a time)")
    sb.reset_request_counts()
    started = time.perf_counter()
    # The first fan alone, then the rest at once: places and totals read in order.
    first = await sb.click(fans[0], announcement, join_id, timeout=15)
    joins = [first] + await bounded(
        fans[1:],
        lambda fan: sb.click(fan, announcement, join_id, timeout=15),
        lambda done: out.progress("joins", done + 1, len(fans)),
    )
    join_seconds = time.perf_counter() - started
    latencies = [result.latency * 1000 for result in joins]
    rest_calls = sum(sb.request_counts().values())
    out.answer("fan1", "Join waitlist", first)
    if len(fans) > 1:
        # The last place handed out: its answer counts everyone who joined.
        last = max(range(1, len(fans)), key=lambda i: place_of(joins[i].text))
        out.answer(fans[last].name, "Join waitlist (the last place)", joins[last])
    out.answer("fan1", "Join waitlist again", await sb.click(fans[0], announcement, join_id))
    out.answer(
        "newcomer",
        "Join waitlist (joined the server 5 h ago)",
        await sb.click(newcomer, announcement, join_id),
    )

    out.heading("Leaving, reminders, status")
    # Scaled to the crowd, so any number of fans works: a few leave, some ask for reminders.
    leavers = fans[1 : 1 + min(10, (len(fans) - 1) // 2)]
    leaves = await bounded(
        leavers,
        lambda fan: sb.slash(fan, "waitlist leave", {"drop": "Night Moth Tee"}),
        lambda done: None,
    )
    if leaves:
        out.answer(leavers[0].name, "/waitlist leave", leaves[0])
    # Few enough that their DM channels open (at Discord's slow pace for new DMs, 0.8 a
    # second) while the demo goes on.
    staying = [fan for fan in fans if fan not in leavers]
    reminded = staying[-min(12, len(staying)) :]
    reminders = await bounded(
        reminded, lambda fan: sb.click(fan, announcement, remind_id), lambda done: None
    )
    out.answer(reminded[0].name, "Remind me", reminders[0])
    out.answer(fans[-1].name, "/waitlist status", await sb.slash(fans[-1], "waitlist status"))
    # A reminder is not a place in line, and the fan is told so.
    out.answer(
        "newcomer", "Remind me (not on the list)", await sb.click(newcomer, announcement, remind_id)
    )
    out.answer("newcomer", "/waitlist status", await sb.slash(newcomer, "waitlist status"))

    out.heading("Managers' view")
    out.answer("manager", "/drop list", await sb.slash(manager, "drop list"))
    export = await sb.slash(manager, "drop export", {"drop": "Night Moth Tee"})
    [(filename, data, _)] = export.attachments
    csv_lines = data.decode().splitlines()
    out.answer("manager", "/drop export", export)
    out.say(
        f"    {filename}: "
        + " | ".join(csv_lines[:3])
        + f" | … ({plural(len(csv_lines) - 1, 'row')})"
    )

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
            f"REST calls during the join burst: {rest_calls} for {plural(len(fans), 'join')} "
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
    # One fan with closed DMs shows the unreachable path (unless they are the only one).
    closed = reminded[-1] if len(reminded) > 1 else None
    if closed is not None:
        sb.close_dms(closed.id)
        out.say(f"    ({closed.name} has closed DMs)")
    out.say(f"    ({plural(len(reminded), 'fan')} asked for reminders)")
    reminders = bot.services.schedule.reminders
    warming = time.perf_counter()
    for _ in range(400):
        known = [await reminders.dm_channel(fan.id) for fan in reminded]
        if all(known):
            break
        await asyncio.sleep(0.1)
    out.say(
        f"    DM channels of {plural(len(reminded), 'fan')} opened in the background, paced for "
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

    reachable = [fan for fan in reminded if closed is None or fan.id != closed.id]

    def all_dms_in() -> bool:
        return all(len(sb.dms(fan.id)) >= 2 for fan in reachable)

    for _ in range(300):
        if opened() and all_dms_in():
            break
        await asyncio.sleep(0.1)
    new_posts = sb.messages(seed.drops.id)[posts_before:]
    for message in new_posts:
        seconds = (message.created_at.timestamp() - time.time()) + (time.perf_counter() - started)
        # Read as it was posted: "4 seconds to go" is true only then.
        out.post(f"drops (+{seconds:.1f}s)", message, as_of=message.created_at)
    if reachable:
        dm = sb.dms(reachable[0].id)
        out.post(f"DM to {reachable[0].name}", dm[0], as_of=dm[0].created_at)
    unreachable = len(await bot.services.schedule.reminders.unreachable())
    if closed is not None:
        out.say(
            f"    DMs to {closed.name}: {len(sb.dms(closed.id))} (recorded unreachable, not "
            "retried)"
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
        f"countdown: {plural(len(new_posts), 'post')} in #drops, drop now {drop.status}; "
        f"{plural(dm_count, 'reminder DM')} to {plural(len(reachable), 'fan')}, "
        f"{plural(unreachable, 'fan')} unreachable",
    ]
