"""``dropbell sandbox`` also runs the sandbox shop: it prints the config to paste, and a person
can pay a link on its checkout page, which sends the signed webhook."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket

import aiohttp
import pytest

from sandbox import serve_forever
from sandbox.shop import SandboxShop as ShopServer
from shops.base import EventKind
from shops.sandbox import SandboxShop

from .conftest import TEE, Listener


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_forever_starts_the_shop_and_prints_its_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop_port = _free_port()
    task = asyncio.create_task(
        serve_forever(_free_port(), shop_port=shop_port, webhook_url="http://127.0.0.1:9/x")
    )
    try:
        for _ in range(200):
            if "[shops.sandbox]" in (printed := capsys.readouterr().out):
                break
            await asyncio.sleep(0.02)
        assert f'api_base = "http://127.0.0.1:{shop_port}"' in printed
        assert "sandbox-secret" not in printed
        shop = SandboxShop("sandbox", api_base=f"http://127.0.0.1:{shop_port}")
        try:
            names = {p.name: p.stock for p in await shop.list_products()}
        finally:
            await shop.aclose()
        assert names == {"Night Moth Tee": 50, "Moth Cap": 20}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_person_pays_on_the_checkout_page(
    server: ShopServer, sandbox_shop: SandboxShop, listener: Listener
) -> None:
    link = await sandbox_shop.issue_link(TEE, "dropbell-8-1")
    server.catalog.faults.down = True  # pages are not API: faults leave them alone
    async with aiohttp.ClientSession() as http:
        async with http.get(link.url) as page:
            assert page.status == 200 and "Night Moth Tee, 35.00 EUR" in await page.text()
        async with http.post(link.url, data={"action": "pay"}) as paid:
            text = await paid.text()
    assert re.search(r"Paid\. Webhook checkout\.session\.completed: \S+ answered 200", text)
    assert [e.kind for e in listener.events] == [EventKind.PAID]
    assert listener.events[0].link_id == link.link_id
