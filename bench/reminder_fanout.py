"""reminder_fanout: 1,000 opted-in fans, a global limit of L requests/s; every reminder arrives?

``python -m bench.reminder_fanout`` writes a drop, N reminder opt-ins (some fans with closed
DMs) and its opening reminder (due a few seconds after start) into a fresh database, sets the
sandbox's global limit to L requests/s, starts dropbell in its own process and times the
fan-out: from the reminder's due time to the last DM. Most fans' DM channels are already known
(a channel is remembered from an earlier reminder, or opened when the fan pressed Remind me);
``--new`` fans have none, and opening one is paced by Discord far below L (the strict sandbox:
10 new DM channels per 10 s). The floor is the slower of the two: every request the fan-out
needs (a send per fan, an open per new fan) at L per second, and the new fans' opens at the
sandbox's DM-open pace. Prints the time against that floor, the invalid requests (401/403/429;
only closed DMs' 50007 are expected), failures and lost reminders, beside the framework floor
(/ping through the same sandbox in the same run).
Target: <= 1.15x the floor, 0 lost reminders, 0 invalid requests besides closed DMs.
``--database postgresql`` runs it on PostgreSQL (bench/database.py).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench import database, targets
from bench.bot_process import dropbell_process
from bench.floor import Figures, floor_figures, ping_bot_process, print_checks, print_floor
from bench.schedule_precision import prepare_database
from sandbox import Sandbox, seed_demo_world
from services.drops.rules import DropSpec
from services.drops.service import DropService
from services.events import DropEvents
from services.localtime import utcnow
from storage.schedule import SendStore
from storage.tables import dm_channels, reminder_optins

DM_MARKER = re.compile(r"dropbell · ref R(\d+)\b")
START_DELAY = 6.0


async def write_drop(
    url: str,
    guild_id: int,
    manager_id: int,
    channel_id: int,
    fans: list[int],
    due: datetime,
    known_channels: dict[int, int],
) -> int:
    db = await prepare_database(url)
    try:
        drops = DropService(db, DropEvents())
        drop = await drops.create(
            guild_id,
            manager_id,
            DropSpec("Fan-out Tee", due, "UTC", 100, channel_id=channel_id),
        )
        now = utcnow()
        async with db.write() as connection:
            await connection.execute(
                reminder_optins.insert(),
                [
                    {"drop_id": drop.id, "user_id": fan, "guild_id": guild_id, "created_at": now}
                    for fan in fans
                ],
            )
            if known_channels:
                await connection.execute(
                    dm_channels.insert(),
                    [
                        {"user_id": user, "channel_id": chan}
                        for user, chan in known_channels.items()
                    ],
                )
        await SendStore(db).insert(
            guild_id=guild_id,
            kind="reminder",
            drop_id=drop.id,
            channel_id=channel_id,
            due_at=due,
            offset_seconds=0,
        )
        return drop.id
    finally:
        await db.dispose()


async def measure_floor(sb: Sandbox, n: int) -> Figures:
    async with ping_bot_process(sb):
        await floor_figures(sb, min(200, n), 1)
        return await floor_figures(sb, n, 1)


async def run(
    n: int, limit: int, closed: int, new: int, floor_n: int, kind: str = database.SQLITE
) -> bool:
    async with database.workspace(kind) as (folder, url):
        async with Sandbox() as sb:
            seed = seed_demo_world(sb, fans=0)
            floor = await measure_floor(sb, floor_n)
            fans = [sb.create_member(seed.guild.id, f"fan{i}") for i in range(n)]
            bystanders = [sb.create_member(seed.guild.id, f"quiet{i}") for i in range(20)]
            for fan in fans[:closed]:
                sb.close_dms(fan.id)
            # Fans with a DM channel from before (the sandbox and our table both know it).
            # The new ones follow the closed-DM fans in the list.
            newcomers = {fan.id for fan in fans[closed : closed + new]}
            known = {
                fan.id: sb.world.dm_channel(fan.id).id for fan in fans if fan.id not in newcomers
            }
            # Migrated before the clock starts: START_DELAY is the bot's to start in (the
            # migrations take longer on PostgreSQL).
            await (await prepare_database(url)).dispose()
            due = utcnow() + timedelta(seconds=START_DELAY)
            await write_drop(
                url,
                seed.guild.id,
                seed.manager.id,
                seed.drops.id,
                [fan.id for fan in fans],
                due,
                known,
            )
            reachable = fans[closed:]
            # Counted from before the bot starts: a bot slow to start (a loaded machine) may
            # begin the fan-out before the sandbox sees it ready.
            sb.reset_request_counts()
            limited_before = sb.stats["429"]
            async with dropbell_process(sb, url, seed.guild.id, log=folder / "bot.log"):
                ready_at = utcnow()
                sb.global_rate_limit(limit)
                opens_per_second = sb.limits.dm_opens / sb.limits.dm_open_window
                deadline = time.monotonic() + START_DELAY + 3 * (2 * n / limit) + 2 * new / 0.8 + 30
                while time.monotonic() < deadline:
                    if all(sb.dms(fan.id) for fan in reachable) and await done(url, n):
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)
                limited = sb.stats["429"] - limited_before
                requests = sb.request_counts()
                invalid = dict(sb.invalid_request_breakdown())
                sb.global_rate_limit(None)
            received = {fan.id: len(sb.dms(fan.id)) for fan in reachable}
            last = max(
                (message.created_at for fan in reachable for message in sb.dms(fan.id)),
                default=due,
            )
            extra = sum(len(sb.dms(member.id)) for member in bystanders + fans[:closed])
        states = dict(
            await database.rows(
                url, "SELECT state, count(*) FROM reminder_deliveries GROUP BY state"
            )
        )
        return report(
            Run(n, limit, closed, new, opens_per_second, database.label(kind), ready_at),
            due,
            last,
            received,
            extra,
            limited,
            invalid,
            requests,
            floor,
            states,
        )


async def done(url: str, n: int) -> bool:
    ((open_count, total),) = await database.rows(
        url,
        "SELECT count(*) FILTER (WHERE state IN ('pending', 'sending')), count(*) "
        "FROM reminder_deliveries",
    )
    return bool(total == n and open_count == 0)


@dataclass(frozen=True)
class Run:
    n: int
    limit: int
    closed: int
    new: int
    opens_per_second: float  # the sandbox's DM-open pace (Discord's, as modelled)
    database: str  # "SQLite" or "PostgreSQL"
    ready_at: datetime  # when the sandbox saw the bot ready


def report(
    run: Run,
    due: datetime,
    last: datetime,
    received: dict[int, int],
    extra: int,
    limited: int,
    invalid: dict[str, int],
    requests: dict[str, int],
    floor: Figures,
    states: dict[str, int],
) -> bool:
    n, limit, closed, new = run.n, run.limit, run.closed, run.new
    # A send per fan (refused once for a closed-DM fan, never again), an open per new fan.
    needed = n + new
    by_requests = needed / limit
    by_opens = new / run.opens_per_second
    floor_seconds = max(by_requests, by_opens)
    seconds = (last - due).total_seconds()
    made = sum(
        count
        for route, count in requests.items()
        if route in ("POST /users/@me/channels", "POST /channels/{channel_id}/messages")
    )
    lost = sum(1 for count in received.values() if count == 0)
    doubled = sum(1 for count in received.values() if count > 1)
    ratio = seconds / floor_seconds if floor_seconds else float("nan")
    print(
        f"reminder_fanout ({run.database}): {n:,} opted-in fans ({closed} with closed DMs, "
        f"{new} without a known DM channel), global limit {limit} requests/s, bot in its own "
        "process"
    )
    print(
        f"  bot ready {(run.ready_at - due).total_seconds():+.1f} s from the reminder's due time "
        "(negative: before it)"
    )
    print_floor([floor])
    print(
        f"  fan-out: {seconds:.2f} s from due time to last DM; floor max({needed:,} requests / "
        f"{limit}/s = {by_requests:.2f} s, {new} opens / {run.opens_per_second:g}/s = "
        f"{by_opens:.2f} s) = {floor_seconds:.2f} s; ratio {ratio:.3f}x"
    )
    print(
        f"  DM requests made: {made:,}; 429s met: {limited}; delivery states: {states}; "
        f"lost: {lost}; duplicated: {doubled}; DMs to others: {extra}"
    )
    print(f"  invalid requests (401/403/429) seen by the sandbox: {invalid or 'none'}")
    unexpected = {key: count for key, count in invalid.items() if key != "403/50007"}
    checks = {
        f"time {ratio:.3f}x floor <= {targets.FANOUT_RATIO_TO_FLOOR}x": (
            ratio <= targets.FANOUT_RATIO_TO_FLOOR
        ),
        f"0 lost reminders ({lost} lost, {doubled} duplicated)": lost == 0 and doubled == 0,
        f"closed-DM fans recorded unreachable ({states.get('unreachable', 0)}/{closed})": (
            states.get("unreachable", 0) == closed
        ),
        f"no DM to anyone who did not opt in or is unreachable ({extra})": extra == 0,
        f"failures: {states.get('failed', 0)}": states.get("failed", 0) == 0,
        f"invalid requests besides closed DMs: {sum(unexpected.values())}": not unexpected,
    }
    return print_checks(checks)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="opted-in fans (1,000)")
    parser.add_argument("--limit", type=int, default=50, help="global requests/s (50)")
    parser.add_argument("--closed", type=int, default=10, help="fans with closed DMs (10)")
    parser.add_argument("--new", type=int, default=10, help="fans without a DM channel (10)")
    parser.add_argument("--floor-n", type=int, default=1000, help="/ping interactions (1,000)")
    database.add_argument(parser)
    args = parser.parse_args(argv)
    ok = asyncio.run(run(args.n, args.limit, args.closed, args.new, args.floor_n, args.database))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
