"""A rejected webhook changes nothing: the real bot's listener, the rows read before and after.

Each rejected delivery carries (or tampers with) a real payment of a fan's held claim, so if
any of them were applied the claim would turn paid, the payment would be remembered in
``shop_events`` and a purchase would be owed its follow-up. Afterwards the genuine delivery
is accepted and does exactly that, which shows the rejected ones had something to change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from sandbox.shop.stripe_wire import signature_header
from tests.databases import query
from tests.e2e.drop_day_support import (
    PRICE,
    drop_opening_in,
    link_url,
    opening_post,
    session_of,
    start_drop_day_bot,
)
from tests.harness import Community, wait_for

# What a delivery could change; a purchase is a claim row in state paid (there is no table of
# its own), and it owes a thank-you follow-up and counts toward a collector's profile.
TABLES = (
    "shop_events",
    "claims",
    "drops",
    "purchase_followups",
    "collector_profiles",
    "manager_notices",
)
MIB = 1024 * 1024


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=10)
        yield running


def snapshot(database_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(query(database_path, f"SELECT * FROM {table}"), key=repr) for table in TABLES
    }


def signed(body: bytes, secret: str) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": signature_header(body, secret, stamp),
    }


async def test_rejected_deliveries_change_no_row(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    # A hold of 10 minutes: nothing expires while the rows are compared.
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community, hold=600)
    base = f"http://127.0.0.1:{bot.web_port}"
    secret = shop.stripe.webhook_secret
    try:
        drop_id = await drop_opening_in(bot, community, 2, stock=2)
        post = await opening_post(sandbox, community, drop_id)
        buyer, holder = community.fans[:2]
        urls = []
        for fan in (buyer, holder):
            answer = await sandbox.click(fan, post, f"dropbell:claim:{drop_id}")
            url = link_url(answer.components)
            assert url is not None, answer.content
            urls.append(url)
        # One purchase already recorded, so the tables hold the rows a payment writes.
        assert (await shop.stripe.complete(session_of(shop, urls[0]))).statuses == [200]

        async def first_paid() -> bool:
            claim = await bot.services.drop_day.claim_of(drop_id, buyer.id)
            return claim is not None and claim.state == "paid"

        await wait_for(first_paid, what="the first payment recorded")
        # The holder's payment, as the shop would deliver it, not yet sent.
        session = shop.stripe.sessions[session_of(shop, urls[1])]
        completed = dict(session, status="complete", payment_status="paid", payment_intent="pi_x")
        event = shop.stripe.event("checkout.session.completed", completed)
        good = shop.stripe.delivery(event)
        # Signed, a JSON object, the right size: only over 1 MiB (whitespace is valid JSON).
        padded = good.body + b" " * MIB
        truncated = good.body[: len(good.body) // 2]
        no_data = json.dumps({k: v for k, v in event.items() if k != "data"}).encode()
        forged = json.loads(good.body)
        forged["data"]["object"]["payment_intent"] = "pi_forged"
        rejected: list[tuple[str, str, bytes, dict[str, str], int]] = [
            ("wrong signature", "sandbox", good.body, good.with_bad_signature().headers, 401),
            ("no signature", "sandbox", good.body, good.without_signature().headers, 401),
            (
                "stale timestamp",
                "sandbox",
                good.body,
                shop.stripe.delivery(event, age_seconds=600).headers,
                401,
            ),
            (
                "body changed under its signature",
                "sandbox",
                json.dumps(forged).encode(),
                good.headers,
                401,
            ),
            ("over 1 MiB, signed", "sandbox", padded, signed(padded, secret), 413),
            ("unknown shop", "elsewhere", good.body, good.headers, 404),
            ("signed, malformed JSON", "sandbox", truncated, signed(truncated, secret), 400),
            ("signed, an event without data", "sandbox", no_data, signed(no_data, secret), 400),
        ]

        before = await asyncio.to_thread(snapshot, database_path)
        async with httpx.AsyncClient() as client:
            for what, shop_name, body, headers, status in rejected:
                response = await client.post(
                    f"{base}/webhooks/{shop_name}", content=body, headers=headers
                )
                assert response.status_code == status, (what, response.text)
                after = await asyncio.to_thread(snapshot, database_path)
                changed = [table for table in TABLES if after[table] != before[table]]
                assert changed == [], f"{what}: {changed} changed"

            # The genuine delivery is accepted and changes what the rejected ones did not.
            accepted = await client.post(
                f"{base}/webhooks/sandbox", content=good.body, headers=good.headers
            )
            assert accepted.status_code == 200, accepted.text
        after = await asyncio.to_thread(snapshot, database_path)
        assert after["shop_events"] != before["shop_events"]
        claim = await bot.services.drop_day.claim_of(drop_id, holder.id)
        assert claim is not None and (claim.state, claim.order_ref) == ("paid", "pi_x")
    finally:
        await runner.stop()
