"""The Stripe-shaped API of the sandbox shop: the subset dropbell's Stripe adapter uses, and
the "fan" actions (pay, refund, let expire, restock) that send correctly signed webhooks.

Catalog products whose id starts with ``price_`` are Stripe Prices here. Stripe keeps no
stock; the sandbox shows the Catalog's in each price's ``metadata["sandbox_stock"]`` so the
sandbox adapter can report it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from .catalog import Catalog, CatalogProduct
from .stripe_wire import Delivery, StripeError, decode_form, make_delivery

API_VERSION = "2026-10-28.endive"  # what stripe 16.1 sends; events carry it like Stripe's do
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 60 * 60  # expires_at window after creation (seconds)
STOCK_KEY = "sandbox_stock"
DELIVERY_TIMEOUT = 10.0

JsonHandler = Callable[[web.Request, dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]


class StripeApi:
    """Serves ``/v1/checkout/sessions`` and ``/v1/prices`` (form-encoded, ``Bearer sk_…``).

    Webhooks go to every URL in ``webhook_urls``, signed with ``webhook_secret``.
    """

    def __init__(self, catalog: Catalog, base_url: Callable[[], str], webhook_secret: str) -> None:
        self.catalog = catalog
        self._base_url = base_url
        self.webhook_secret = webhook_secret
        self.webhook_urls: list[str] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # every event made, in order
        self.deliveries: list[Delivery] = []  # every delivery sent, with its results
        self._charges: dict[str, dict[str, Any]] = {}  # payment intent id -> its charge
        self._replays: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = {}
        self._pending: set[asyncio.Task[Delivery]] = set()
        self._http: aiohttp.ClientSession | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/checkout/sessions", self._json(self._create_session)),
            web.get("/v1/checkout/sessions/{id}", self._json(self._get_session)),
            web.post("/v1/checkout/sessions/{id}/expire", self._json(self._expire_session)),
            web.get("/v1/prices", self._json(self._list_prices)),
            web.get("/v1/prices/{id}", self._json(self._get_price)),
        ]

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- fan actions: what happens at Stripe's end, then the signed webhook ----------------

    async def complete(self, session_id: str) -> Delivery:
        """A fan pays: the session completes, the stock drops, ``checkout.session.completed``."""
        session = self._open_session(session_id)
        product = self.catalog.products.get(session["_price"])
        quantity = int(session["_quantity"])
        if product is not None:
            # Stripe would take the payment whatever the stock; the sandbox never goes below 0.
            product.stock = max(0, product.stock - quantity)
        intent = f"pi_{self._suffix()}"
        session.update(status="complete", payment_status="paid", payment_intent=intent)
        self._charges[intent] = {
            "id": f"ch_{self._suffix()}",
            "object": "charge",
            "amount": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
            "payment_intent": intent,
            "refunded": False,
            "status": "succeeded",
            "metadata": dict(session["_intent_metadata"]),
        }
        return await self.send(self.delivery(self.event("checkout.session.completed", session)))

    async def expire(self, session_id: str) -> Delivery:
        """The session reaches its ``expires_at`` unpaid: ``checkout.session.expired``."""
        session = self._open_session(session_id)
        session["status"] = "expired"
        return await self.send(self.delivery(self.event("checkout.session.expired", session)))

    async def refund(self, ref: str) -> Delivery:
        """Refund the payment of a completed session (its id or its payment intent id)."""
        intent = self.sessions[ref]["payment_intent"] if ref in self.sessions else ref
        charge = self._charges.get(intent or "")
        if charge is None:
            raise ValueError(f"No paid session or payment intent {ref!r} to refund.")
        charge.update(refunded=True, amount_refunded=charge["amount"])
        return await self.send(self.delivery(self.event("charge.refunded", charge)))

    async def restock(self, price_id: str, units: int) -> Delivery:
        """Add ``units`` to a price's stock; ``price.updated`` carries the new stock."""
        product = self.catalog.products[price_id]
        product.stock += units
        return await self.send(self.delivery(self.event("price.updated", self._price(product))))

    # --- deliveries ------------------------------------------------------------------------

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": f"evt_{self._suffix()}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": len(self.webhook_urls),
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": _public(obj)},
        }
        self.events.append(event)
        return event

    def delivery(self, event: dict[str, Any], *, age_seconds: float = 0.0) -> Delivery:
        """The signed delivery of ``event``; ``age_seconds`` back-dates its timestamp (stale)."""
        return make_delivery(event, self.webhook_secret, int(time.time() - age_seconds))

    async def send(self, delivery: Delivery) -> Delivery:
        """POST ``delivery`` to every webhook URL (once each; sending it again is a replay)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
            )
        for url in self.webhook_urls:
            try:
                async with self._http.post(
                    url, data=delivery.body, headers=delivery.headers
                ) as response:
                    delivery.results.append((url, response.status))
            except (aiohttp.ClientError, TimeoutError):
                delivery.results.append((url, 0))  # like Stripe: noted, the fan's action stands
        self.deliveries.append(delivery)
        return delivery

    def _send_later(self, delivery: Delivery) -> None:
        # An API answer never waits on the webhook it causes, as with Stripe.
        task = asyncio.create_task(self.send(delivery))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # --- the HTTP API ----------------------------------------------------------------------

    def _json(self, handler: JsonHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                api_key = _api_key(request)
                pairs = list((await request.post()).items()) + list(request.query.items())
                params = decode_form((k, str(v)) for k, v in pairs)
                replay_key = request.headers.get("Idempotency-Key")
                if request.method == "POST" and replay_key:
                    return await self._idempotent(
                        (api_key, replay_key), request, pairs, handler, params
                    )
                status, body = await handler(request, params)
            except StripeError as refusal:
                return refusal.response()
            return web.json_response(body, status=status)

        return serve

    async def _idempotent(
        self,
        key: tuple[str, str],
        request: web.Request,
        pairs: list[tuple[str, Any]],
        handler: JsonHandler,
        params: dict[str, Any],
    ) -> web.Response:
        """Same key, same request: Stripe's saved answer again. Same key, other parameters:
        400 idempotency_error. Nothing is saved when the handler did not run (faults)."""
        fingerprint = json.dumps([request.path, sorted(map(str, pairs))])
        saved = self._replays.get(key)
        if saved is not None:
            saved_fingerprint, status, body = saved
            if saved_fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    type_="idempotency_error",
                )
            return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
        try:
            status, body = await handler(request, params)
        except StripeError as refusal:
            status, body = refusal.status, json.loads(refusal.response().text or "{}")
        self._replays[key] = (fingerprint, status, body)
        return web.json_response(body, status=status)

    async def _create_session(
        self, request: web.Request, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if params.get("mode") != "payment":
            raise StripeError(400, "The sandbox shop supports mode=payment only.", param="mode")
        items = params.get("line_items")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise StripeError(
                400, "Give exactly one line item (line_items[0][price]).", param="line_items"
            )
        product = self._price_product(str(items[0].get("price", "")), "line_items[0][price]")
        quantity = _int(items[0].get("quantity", "1"), "line_items[0][quantity]")
        if quantity < 1:
            raise StripeError(400, "Quantity must be at least 1.", param="line_items[0][quantity]")
        created = int(time.time())
        expires_at = _int(params.get("expires_at", created + MAX_EXPIRY), "expires_at")
        if not created + MIN_EXPIRY <= expires_at <= created + MAX_EXPIRY:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                "Checkout Session creation.",
                param="expires_at",
            )
        metadata = _metadata(params.get("metadata", {}), "metadata")
        intent_data = params.get("payment_intent_data", {})
        intent_metadata = _metadata(
            intent_data.get("metadata", {}) if isinstance(intent_data, dict) else {},
            "payment_intent_data[metadata]",
        )
        reference = params.get("client_reference_id")
        if reference is not None and not 0 < len(str(reference)) <= 200:
            raise StripeError(
                400, "client_reference_id: 1 to 200 characters.", param="client_reference_id"
            )
        session_id = f"cs_test_{self._suffix()}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": product.price_cents * quantity,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "created": created,
            "currency": product.currency,
            "expires_at": expires_at,
            "livemode": False,
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{self._base_url()}/c/pay/{session_id}",
            # Private to the sandbox (never served): what the session sells.
            "_price": product.id,
            "_quantity": quantity,
            "_intent_metadata": intent_metadata,
        }
        self.sessions[session_id] = session
        return 200, _public(session)

    async def _get_session(
        self, request: web.Request, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        return 200, _public(self._session(request.match_info["id"]))

    async def _expire_session(
        self, request: web.Request, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        session = self._session(request.match_info["id"])
        if session["status"] != "open":
            # Stripe expires open sessions only: a completed one and an already expired one
            # both get this 400 (the adapter reads the session to tell "already ended").
            raise StripeError(
                400,
                f"Only Checkout Sessions with a status of `open` can be expired; this one is "
                f"`{session['status']}`.",
                code="checkout_session_not_open",
            )
        session["status"] = "expired"
        self._send_later(self.delivery(self.event("checkout.session.expired", session)))
        return 200, _public(session)

    async def _list_prices(
        self, request: web.Request, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        limit = _int(params.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "limit must be between 1 and 100.", param="limit")
        expand_product = "data.product" in (params.get("expand") or [])
        prices = [p for p in self.catalog.products.values() if p.id.startswith("price_")]
        after = params.get("starting_after")
        if after:
            ids = [p.id for p in prices]
            prices = prices[ids.index(after) + 1 :] if after in ids else []
        page = [self._price(p, expand_product) for p in prices[:limit]]
        return 200, {
            "object": "list",
            "url": "/v1/prices",
            "has_more": len(prices) > limit,
            "data": page,
        }

    async def _get_price(
        self, request: web.Request, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        product = self._price_product(request.match_info["id"], "id")
        return 200, self._price(product, "product" in (params.get("expand") or []))

    # --- state -----------------------------------------------------------------------------

    def _price(self, product: CatalogProduct, expand_product: bool = False) -> dict[str, Any]:
        product_id = f"prod_{product.id.removeprefix('price_')}"
        return {
            "id": product.id,
            "object": "price",
            "active": True,
            "currency": product.currency,
            "unit_amount": product.price_cents,
            "type": "one_time",
            "livemode": False,
            "metadata": {STOCK_KEY: str(product.stock)},
            "product": (
                {"id": product_id, "object": "product", "name": product.name, "active": True}
                if expand_product
                else product_id
            ),
        }

    def _price_product(self, price_id: str, param: str) -> CatalogProduct:
        product = self.catalog.products.get(price_id)
        if product is None or not price_id.startswith("price_"):
            raise StripeError(
                404 if param == "id" else 400,
                f"No such price: '{price_id}'",
                code="resource_missing",
                param=param,
            )
        return product

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise StripeError(
                404, f"No such checkout.session: '{session_id}'", code="resource_missing"
            )
        return session

    def _open_session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None or session["status"] != "open":
            state = "unknown" if session is None else session["status"]
            raise ValueError(f"Checkout Session {session_id!r} is {state}, not open.")
        return session

    def _suffix(self) -> str:
        return f"sbx{self.catalog.next_id():08d}"


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _api_key(request: web.Request) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not key.startswith("sk_"):
        # Like Stripe, never echo what was sent: it may be a real key.
        raise StripeError(
            401,
            "You did not provide a valid API key: send Authorization: Bearer sk_….",
        )
    return key


def _int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {param}.", param=param) from None


def _metadata(value: Any, param: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 50:
        raise StripeError(400, f"{param}: at most 50 keys.", param=param)
    if any(len(k) > 40 or len(str(v)) > 500 for k, v in value.items()):
        raise StripeError(400, f"{param}: keys up to 40, values up to 500 characters.", param=param)
    return {k: str(v) for k, v in value.items()}
