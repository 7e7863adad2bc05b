"""The one mapping from ``[shops.NAME]`` config onto ``shops.connect`` (which takes plain
values, since ``shops/`` may not import ``bot``)."""

from __future__ import annotations

from pydantic import SecretStr

from bot.config import Settings, ShopSettings
from shops.base import Shop
from shops.circuit import OnOpen
from shops.connect import Options, connect_all


def shop_options(shop: ShopSettings) -> Options:
    """A shop's settings as plain strings, secrets revealed (for the adapter only)."""
    options: dict[str, str | None] = {}
    for key in type(shop).model_fields:
        value = getattr(shop, key)
        if key == "kind":
            continue
        if isinstance(value, SecretStr):
            options[key] = value.get_secret_value()
        else:
            options[key] = None if value is None else str(value)
    return options


def connect_shops(settings: Settings, *, on_open: OnOpen | None = None) -> dict[str, Shop]:
    """Every configured shop, connected and behind its circuit."""
    return connect_all(
        {name: (shop.kind, shop_options(shop)) for name, shop in settings.shops.items()},
        on_open=on_open,
    )
