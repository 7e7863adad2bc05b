"""The bundled sandbox shop (``kind = "sandbox"``): the Stripe adapter pointed at it.

The sandbox shop speaks Stripe's API, so only two things differ: a fixed test key (it accepts
any ``sk_…``), and the stock the sandbox keeps in each price's metadata, which this adapter
reports (and turns ``price.updated`` into a restock).
"""

from __future__ import annotations

from typing import Any

from shops.stripe import StripeShop

SANDBOX_SECRET_KEY = "sk_test_sandbox"  # not a secret: the sandbox shop takes any sk_ key
SANDBOX_API_BASE = "http://127.0.0.1:8766"


class SandboxShop(StripeShop):
    kind = "sandbox"
    stock_key = "sandbox_stock"

    def __init__(
        self,
        name: str,
        *,
        api_base: str = SANDBOX_API_BASE,
        webhook_secret: str = "sandbox-secret",
        **options: Any,
    ) -> None:
        super().__init__(
            name,
            secret_key=SANDBOX_SECRET_KEY,
            webhook_secret=webhook_secret,
            api_base=api_base,
            success_url=f"{api_base.rstrip('/')}/thanks",
            cancel_url=f"{api_base.rstrip('/')}/",
            **options,
        )
