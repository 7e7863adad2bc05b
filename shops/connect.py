"""Build the connected shops from plain per-shop settings (``bot/`` maps its config onto these).

Plain arguments rather than ``bot.config``'s models: the layers contract keeps ``shops/`` from
importing ``bot``. Every shop comes wrapped in a ``CircuitBreaker``.
"""

from __future__ import annotations

from collections.abc import Mapping

from shops.base import Shop
from shops.circuit import CircuitBreaker, OnOpen
from shops.sandbox import SandboxShop
from shops.shopify import ShopifyShop
from shops.stripe import StripeShop

# Per-shop settings as config gives them: secrets already revealed, None for "not set".
Options = Mapping[str, str | None]


def connect(name: str, kind: str, options: Options) -> Shop:
    """One adapter, unwrapped. ValueError (one sentence) for an unknown kind or a missing key."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        if kind == "stripe":
            return StripeShop(
                name,
                secret_key=given["secret_key"],
                webhook_secret=given["webhook_secret"],
                # Required (product.md): no placeholder page for a fan who just paid.
                success_url=given["success_url"],
                cancel_url=given["cancel_url"],
                api_base=given.get("api_base"),
            )
        if kind == "sandbox":
            return SandboxShop(name, **_only(given, "api_base", "webhook_secret"))
        if kind == "shopify":
            return ShopifyShop(
                name,
                shop_domain=given["shop_domain"],
                admin_token=given["admin_token"],
                webhook_secret=given["webhook_secret"],
                api_version=given.get("api_version", "2025-10"),
                api_base=given.get("api_base"),
            )
    except KeyError as missing:
        raise ValueError(f"Shop {name!r} ({kind}) needs {missing.args[0]}.") from None
    raise ValueError(f"Shop {name!r} has kind {kind!r}; use stripe, shopify or sandbox.")


def connect_all(
    shops: Mapping[str, tuple[str, Options]],
    *,
    on_open: OnOpen | None = None,
    failures: int = 5,
    cool_off: float = 30.0,
) -> dict[str, Shop]:
    """``{name: (kind, options)}`` to ``{name: shop}``, each behind its own circuit."""
    return {
        name: CircuitBreaker(
            connect(name, kind, options), failures=failures, cool_off=cool_off, on_open=on_open
        )
        for name, (kind, options) in shops.items()
    }


def _only(given: Mapping[str, str], *keys: str) -> dict[str, str]:
    return {key: given[key] for key in keys if key in given}
