"""A seeded demo world, and ``serve_forever`` for ``dropbell sandbox --port N``."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from .server import Sandbox
from .world import MANAGE_GUILD, Channel, Guild, Member, Role, utcnow


@dataclass
class SeedInfo:
    guild: Guild
    general: Channel
    drops: Channel
    manager_role: Role
    manager: Member
    fans: list[Member] = field(default_factory=list)


def seed_demo_world(sb: Sandbox, fans: int = 5, name: str = "Sandbox Server") -> SeedInfo:
    """One guild "Sandbox Server": #general, #drops, a Manager role (Manage Server), a manager
    and ``fans`` fans with a spread of account ages and join dates."""
    guild = sb.create_guild(name)
    general = sb.world.channels[guild.channel_ids[0]]
    drops = sb.create_channel(guild.id, "drops")
    manager_role = sb.create_role(guild.id, "Manager", permissions=MANAGE_GUILD)
    now = utcnow()
    manager = sb.create_member(
        guild.id,
        "manager",
        roles=[manager_role.id],
        joined_at=now - dt.timedelta(days=400),
        account_created_at=now - dt.timedelta(days=2000),
    )
    members = []
    for i in range(1, fans + 1):
        # Ages wrap so any number of fans stays after Discord's epoch; nobody joins the
        # server before their account existed.
        created_days = (200 * i) % 3000 + 10
        joined_days = min((30 * i) % 700 + 1, created_days)
        members.append(
            sb.create_member(
                guild.id,
                f"fan{i}",
                joined_at=now - dt.timedelta(days=joined_days),
                account_created_at=now - dt.timedelta(days=created_days),
            )
        )
    return SeedInfo(guild, general, drops, manager_role, manager, members)


def describe(sb: Sandbox, seed: SeedInfo) -> str:
    base = sb.base_url
    fan = seed.fans[0].name if seed.fans else "manager"
    return f"""\
dropbell sandbox — a local Discord-compatible server on {base}
Discord's rules are enforced (rate limits, DM pacing, form limits...): see docs/sandbox.md.

Point a bot at it (any token works):
  export DROPBELL_DISCORD__API_BASE={sb.api_base}
  export DROPBELL_DISCORD__GATEWAY_URL={sb.gateway_url}
  export DROPBELL_DISCORD__TOKEN=sandbox-token
  export DROPBELL_DISCORD__DEV_GUILD_ID={seed.guild.id}

World: guild "{seed.guild.name}" ({seed.guild.id}), #general ({seed.general.id}),
  #drops ({seed.drops.id}), role Manager ({seed.manager_role.id}) held by "manager",
  fans: {", ".join(m.name for m in seed.fans)}

Drive it with curl:
  curl -s {base}/_sandbox/state
  curl -s -X POST {base}/_sandbox/members -d '{{"name": "newfan"}}'
  curl -s -X POST {base}/_sandbox/slash \\
       -d '{{"name": "{fan}", "command": "waitlist join", "options": {{"drop": "Night Moth Tee"}}}}'
  curl -s -X POST {base}/_sandbox/click \\
       -d '{{"name": "{fan}", "message_id": "MESSAGE_ID", "custom_id": "dropbell:join:1"}}'
  curl -s {base}/_sandbox/channels/{seed.drops.id}/messages
  curl -s {base}/_sandbox/dms/{seed.fans[0].id if seed.fans else seed.manager.id}
"""


async def serve_forever(port: int, host: str = "127.0.0.1", seed: int = 0) -> None:
    """Run a seeded sandbox until cancelled (Ctrl-C). The same ``seed`` builds the same ids."""
    sb = Sandbox(host=host, port=port, seed=seed)
    await sb.start()
    try:
        world = seed_demo_world(sb)
        sb.ids.release()
        print(describe(sb, world), flush=True)
        await asyncio.Event().wait()
    finally:
        await sb.stop()
