"""A seeded demo world, and ``serve_forever`` for ``dropbell sandbox --port N``."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from .models import MANAGE_GUILD, Channel, Guild, Member, Role, utcnow
from .server import Sandbox
from .shop import SandboxShop


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


class PortInUse(OSError):
    """Starting a server failed on ``port`` (the sandbox runs two: say which)."""

    def __init__(self, error: OSError, port: int) -> None:
        super().__init__(error.errno, error.strerror)
        self.port = port


# What the sandbox shop sells when started by hand (Stripe Price ids).
SHOP_PRODUCTS = (
    ("price_night_moth_tee", "Night Moth Tee", 3500, 50),
    ("price_moth_cap", "Moth Cap", 2000, 20),
)


def describe_shop(shop: SandboxShop, webhook_url: str) -> str:
    products = "\n".join(
        f"  {p.id}: {p.name}, {p.price_cents / 100:.2f} {p.currency.upper()}, stock {p.stock}"
        for p in shop.catalog.products.values()
    )
    # The webhook secret is the config default, so it is neither printed nor needed here.
    return f"""\
Sandbox shop (Stripe-shaped API) on {shop.base_url}, sending signed webhooks to
{webhook_url} (the bot's web listener: web.port 8080 by default). Paste into config.toml:
  [shops.sandbox]
  kind = "sandbox"
  api_base = "{shop.base_url}"

  [drops]
  hold_minutes = 1    # optional: a short hold, to see one end while you watch
or set it in the environment, like the Discord variables above:
  export DROPBELL_SHOPS__SANDBOX__KIND=sandbox
  export DROPBELL_SHOPS__SANDBOX__API_BASE={shop.base_url}
Products (use as product "sandbox:<id>"; /drop create's autocomplete offers them):
{products}
Open a link it issues to pay or let it expire by hand.
"""


async def serve_forever(
    port: int,
    host: str = "127.0.0.1",
    seed: int = 0,
    shop_port: int = 0,
    webhook_url: str = "http://127.0.0.1:8080/webhooks/sandbox",
) -> None:
    """Run a seeded sandbox and the sandbox shop until cancelled (Ctrl-C). The same ``seed``
    builds the same ids; ``shop_port`` 0 picks a free port."""
    sb = Sandbox(host=host, port=port, seed=seed)
    shop = SandboxShop(host=host, port=shop_port)
    for price_id, name, cents, stock in SHOP_PRODUCTS:
        shop.catalog.add_product(price_id, name, cents, stock)
    shop.stripe.webhook_urls.append(webhook_url)
    try:
        await sb.start()
    except OSError as error:
        raise PortInUse(error, port) from error
    try:
        try:
            await shop.start()
        except OSError as error:
            raise PortInUse(error, shop_port) from error
        world = seed_demo_world(sb)
        sb.ids.release()
        print(describe(sb, world), flush=True)
        print(describe_shop(shop, webhook_url), flush=True)
        await asyncio.Event().wait()
    finally:
        await shop.stop()
        await sb.stop()
