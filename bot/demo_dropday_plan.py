"""The demo's drop day, its script: the shop it sells from, who does what once the draw is known,
and the small readers of what fans see. ``bot.demo_dropday`` plays it."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox import Message, Sandbox
from sandbox.shop import SandboxShop

# Time compressed by configuration: a hold of a few seconds instead of 15 minutes.
HOLD_SECONDS = 6.0
PRODUCT_ID = "price_luna_moth_hoodie"
PRODUCT_NAME = "Luna Moth Hoodie"
PRICE_CENTS = 6500
UNITS = 50  # for the demo's 200 fans; a quarter of a smaller crowd
SHOP_NAME = "sandbox"


def units_for(fans: int) -> int:
    return max(1, min(UNITS, fans // 4))


def shop_sections(shop: SandboxShop) -> dict[str, Any]:
    """The demo's ``[shops.sandbox]`` and ``[drops]`` settings: what an operator would write."""
    return {
        "shops": {
            SHOP_NAME: {
                "kind": "sandbox",
                "api_base": shop.base_url,
                "webhook_secret": shop.stripe.webhook_secret,
            }
        },
        "drops": {"hold_minutes": HOLD_SECONDS / 60},
    }


def stock_shop(shop: SandboxShop, fans: int) -> None:
    shop.catalog.add_product(PRODUCT_ID, PRODUCT_NAME, PRICE_CENTS, stock=units_for(fans))


def rerun_draw(seed: str, user_ids: Iterable[int]) -> list[int]:
    """The draw as product.md states it, written here without dropbell's own code: every
    entry's sha256("<seed>:<user_id>") as lowercase hex, ascending."""
    return sorted(user_ids, key=lambda user: hashlib.sha256(f"{seed}:{user}".encode()).hexdigest())


@dataclass(frozen=True)
class Plan:
    """Who does what once the draw is known (scaled to the crowd, so any crowd works)."""

    winners: list[Any]
    reserves: list[Any]
    payers: list[Any]  # winners who pay within their hold
    unpaid: list[Any]  # winners who let their hold end
    promoted: list[Any]  # reserves the unpaid units pass to, in draw order
    promoted_payers: list[Any]
    still_holding: list[Any]  # promoted reserves who have not paid when the tally is taken
    refunded: Any | None  # a paying winner whose order is refunded


def plan_for(order: list[Any], stock: int) -> Plan:
    winners, reserves = order[:stock], order[stock:]
    unpaid_count = -(-len(winners) * 3 // 10) if reserves else 0  # 30 %, rounded up
    payers, unpaid = winners[: len(winners) - unpaid_count], winners[len(winners) - unpaid_count :]
    promoted = reserves[: len(unpaid)]
    holding = min(2, len(promoted) - 1) if len(promoted) > 1 else 0
    paying = promoted[: len(promoted) - holding]
    return Plan(
        winners=winners,
        reserves=reserves,
        payers=payers,
        unpaid=unpaid,
        promoted=promoted,
        promoted_payers=paying,
        still_holding=promoted[len(paying) :],
        refunded=payers[0] if payers and len(payers) + len(paying) > 1 else None,
    )


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait (polling) until ``check`` holds; the demo fails with ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo waited {timeout:g}s for {what}")
        await asyncio.sleep(0.05)


def reserve_number(text: str) -> int | None:
    found = re.search(r"reserve #(\d+)\b", text)
    return int(found.group(1)) if found else None


def reserves_text(count: int) -> str:
    return "reserve #1" if count == 1 else f"reserves #1–#{count}"


def entry_count(text: str) -> int:
    found = re.search(r"\(([\d,]+) entr", text)
    return int(found.group(1).replace(",", "")) if found else 0


def claim_post(sb: Sandbox, channel_id: int, drop_id: int) -> Message | None:
    for message in reversed(sb.messages(channel_id)):
        if f"dropbell:claim:{drop_id}" in message.custom_ids() and "open now" in message.content:
            return message
    return None
