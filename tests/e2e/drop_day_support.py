"""What the drop-day tests share: the sandbox shop, a bot connected to it, a drop that opens."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.bot import Dropbell
from sandbox import Message, Sandbox
from sandbox.shop.server import SandboxShop
from services.drops.rules import DropSpec
from services.localtime import utcnow
from storage.states import Allocation
from tests.harness import Community, InProcessBot, settings_for, wait_for

PRICE = "price_moth_tee"
HOLD_SECONDS = 3.0


def drop_day_settings(
    sb: Sandbox, shop: SandboxShop, database_path: Path, guild_id: int, hold: float = HOLD_SECONDS
) -> Any:
    return settings_for(
        sb,
        database_path,
        guild_id,
        sections={
            "shops": {
                "sandbox": {
                    "kind": "sandbox",
                    "api_base": shop.base_url,
                    "webhook_secret": shop.stripe.webhook_secret,
                }
            },
            "drops": {"hold_minutes": hold / 60},
        },
    )


async def start_drop_day_bot(
    sb: Sandbox, shop: SandboxShop, database_path: Path, community: Community, **kw: Any
) -> tuple[InProcessBot, Dropbell]:
    runner = InProcessBot(drop_day_settings(sb, shop, database_path, community.guild.id, **kw))
    bot = await runner.start()
    shop.stripe.webhook_urls[:] = [f"http://127.0.0.1:{bot.web_port}/webhooks/sandbox"]
    return runner, bot


async def drop_opening_in(
    bot: Dropbell,
    community: Community,
    seconds: float,
    *,
    stock: int,
    allocation: Allocation = Allocation.WAITLIST_ORDER,
    early_access_minutes: int = 0,
    name: str = "Night Moth Tee",
) -> int:
    """A drop selling the sandbox tee, opening in ``seconds`` (to the second)."""
    drop = await bot.services.drops.create(
        community.guild.id,
        community.manager.id,
        DropSpec(
            name,
            utcnow() + timedelta(seconds=seconds),
            "UTC",
            stock,
            channel_id=community.drops.id,
            allocation=allocation,
            early_access_minutes=early_access_minutes,
            product=f"sandbox:{PRICE}",
        ),
    )
    await bot.services.events.drop_changed(drop.id)
    return drop.id


def claim_button_post(sb: Sandbox, community: Community, drop_id: int) -> Message | None:
    for message in reversed(sb.messages(community.drops.id)):
        if f"dropbell:claim:{drop_id}" in message.custom_ids():
            return message
    return None


async def opening_post(sb: Sandbox, community: Community, drop_id: int) -> Message:
    """The opening post with Get my link, once the pool holds a link per unit."""
    await wait_for(
        lambda: claim_button_post(sb, community, drop_id) is not None,
        timeout=15,
        what="the opening post with Get my link",
    )
    post = claim_button_post(sb, community, drop_id)
    assert post is not None
    return post


def link_url(components: list[dict[str, Any]]) -> str | None:
    for row in components:
        for component in row.get("components", []):
            if component.get("style") == 5:
                return str(component["url"])
    return None


def session_of(shop: SandboxShop, url: str) -> str:
    return next(sid for sid, session in shop.stripe.sessions.items() if session["url"] == url)
