"""The ``product`` option: ``<shop name>:<id>``, checked against the shop and offered by name."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from services.errors import UserError
from shops.base import Product, Shop, ShopRefused, ShopUnavailable

log = logging.getLogger("dropbell.products")

AUTOCOMPLETE_SECONDS = 2.0  # Discord drops an autocomplete answer after 3 s
# A modal must be the first answer to its press, within Discord's 3 s: a suggestion that takes
# longer is left out, and the manager types the product.
SUGGEST_SECONDS = 1.5


@dataclass(frozen=True)
class ProductChoice:
    label: str
    value: str


def price_text(product: Product) -> str:
    if product.price_cents is None:
        return "no price"
    currency = (product.currency or "").upper()
    return f"{product.price_cents / 100:,.2f} {currency}".strip()


def choice_label(shop: str, product: Product) -> str:
    stock = f"{product.stock:,} in stock" if product.stock is not None else "stock not tracked"
    return f"{product.name} · {price_text(product)} · {stock} ({shop})"[:100]


class Products:
    def __init__(self, shops: Mapping[str, Shop]) -> None:
        self.shops = shops

    async def check(self, product: str) -> Product:
        """The product a drop will sell, or one sentence saying what is wrong."""
        shop_name, sep, product_id = product.partition(":")
        if not self.shops:
            raise UserError(
                "No shop is connected, so a drop can't sell a product yet; leave `product` out "
                "(waitlist only) or connect a shop under [shops.NAME] in the config."
            )
        shop = self.shops.get(shop_name) if sep else None
        if shop is None or not product_id:
            names = ", ".join(sorted(self.shops))
            raise UserError(
                f"{product!r} is not a product: pick one from the list, or write "
                f"`<shop>:<id>` with one of these shops: {names}."
            )
        try:
            return await shop.get_product(product_id)
        except ShopRefused:
            raise UserError(
                f"The shop **{shop_name}** has no product {product_id!r}; pick one from the list."
            ) from None
        except ShopUnavailable as error:
            raise UserError(
                f"I could not check the product with **{shop_name}**: {error} Try again shortly."
            ) from None

    async def choices(self, typed: str) -> list[ProductChoice]:
        """Autocomplete: products of every connected shop whose name contains ``typed``."""
        found: list[ProductChoice] = []

        async def one(name: str, shop: Shop) -> None:
            try:
                products = await shop.list_products(typed.strip())
            except (ShopRefused, ShopUnavailable) as error:
                log.info("no products from %s for autocomplete: %s", name, error)
                return
            found.extend(
                ProductChoice(choice_label(name, product), f"{name}:{product.id}")
                for product in products
            )

        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(name, shop) for name, shop in self.shops.items())),
                AUTOCOMPLETE_SECONDS,
            )
        except TimeoutError:
            log.info("a shop was too slow for the product autocomplete")
        return found[:25]

    async def named(self, name: str, seconds: float = SUGGEST_SECONDS) -> str | None:
        """``shop:id`` of the one product, across connected shops, called exactly ``name``
        (case aside); None if there is none, several, or the shops are slow to say."""
        wanted = " ".join(name.split()).casefold()
        found: list[str] = []

        async def one(shop_name: str, shop: Shop) -> None:
            try:
                products = await shop.list_products(name.strip())
            except (ShopRefused, ShopUnavailable) as error:
                log.info("no products from %s to suggest: %s", shop_name, error)
                return
            found.extend(
                f"{shop_name}:{product.id}"
                for product in products
                if " ".join(product.name.split()).casefold() == wanted
            )

        if not self.shops:
            return None
        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(n, shop) for n, shop in self.shops.items())), seconds
            )
        except TimeoutError:
            log.info("a shop was too slow to suggest a product for %r", name)
            return None
        return found[0] if len(found) == 1 else None
