"""From ``[shops.NAME]`` config to connected shops, each behind its circuit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config_loading import load_settings
from bot.shop_connections import connect_shops
from sandbox.shop import SandboxShop as ShopServer
from shops.circuit import CircuitBreaker
from shops.connect import connect
from shops.sandbox import SandboxShop
from shops.stripe import StripeShop

CONFIG = """
[discord]
token = "t"

[shops.main]
kind = "stripe"
secret_key = "sk_test_from_config"
webhook_secret = "whsec_from_config"
success_url = "https://night-moth.example/thanks"
cancel_url = "https://night-moth.example/"
api_base = "{base}"

[shops.sandbox]
kind = "sandbox"
api_base = "{base}"
"""


async def test_config_becomes_working_shops_behind_circuits(
    tmp_path: Path, server: ShopServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DROPBELL_DISCORD__TOKEN", "DROPBELL_DISCORD__API_BASE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(base=server.base_url))
    shops = connect_shops(load_settings(path))
    try:
        assert {name: (shop.kind, type(shop)) for name, shop in shops.items()} == {
            "main": ("stripe", CircuitBreaker),
            "sandbox": ("sandbox", CircuitBreaker),
        }
        assert [p.stock for p in await shops["sandbox"].list_products("moth cap")] == [2]
        assert [p.stock for p in await shops["main"].list_products("moth cap")] == [None]
        assert "sk_test_from_config" not in repr(shops["main"])
    finally:
        for shop in shops.values():
            await shop.aclose()


async def test_an_unknown_kind_or_a_missing_key_is_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^Shop 'x' has kind 'square'; use stripe, shopify"):
        connect("x", "square", {})
    with pytest.raises(ValueError, match=r"^Shop 'x' \(stripe\) needs secret_key\.$"):
        connect("x", "stripe", {"webhook_secret": "w", "secret_key": None})
    # No placeholder checkout pages: a Stripe shop names its own (product.md).
    with pytest.raises(ValueError, match=r"^Shop 'x' \(stripe\) needs success_url\.$"):
        connect("x", "stripe", {"webhook_secret": "w", "secret_key": "sk", "cancel_url": "u"})
    shop = connect("s", "sandbox", {"api_base": None, "webhook_secret": None})
    assert isinstance(shop, SandboxShop) and isinstance(shop, StripeShop)
    await shop.aclose()
