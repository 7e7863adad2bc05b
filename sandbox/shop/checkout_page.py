"""The page a session's ``url`` opens: a person trying the sandbox by hand pays (or lets the
link expire) with one button, and the shop sends the same signed webhook a test's fan action
does. Pages, not API: faults and the request log leave them alone."""

from __future__ import annotations

import html

from aiohttp import web

from .stripe_api import StripeApi

PAGE = """<!doctype html><meta charset="utf-8"><title>Sandbox checkout</title>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>Sandbox checkout</h1><p>{what}</p>{form}</body>"""
PAY_FORM = """<form method="post"><button name="action" value="pay">Pay</button>
<button name="action" value="expire">Let it expire</button></form>"""


class CheckoutPages:
    prefix = "/c/"

    def __init__(self, stripe: StripeApi) -> None:
        self.stripe = stripe

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/c/pay/{id}", self._show),
            web.post("/c/pay/{id}", self._act),
        ]

    async def _show(self, request: web.Request) -> web.Response:
        session = self.stripe.sessions.get(request.match_info["id"])
        if session is None:
            return _page("There is no such checkout session.", status=404)
        product = self.stripe.catalog.products.get(session["_price"])
        name = product.name if product else session["_price"]
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        if session["status"] != "open":
            return _page(f"{name}, {amount}: this checkout is {session['status']}.")
        return _page(f"{name}, {amount}.", form=PAY_FORM)

    async def _act(self, request: web.Request) -> web.Response:
        session_id = request.match_info["id"]
        action = (await request.post()).get("action")
        try:
            if action == "pay":
                delivery = await self.stripe.complete(session_id)
            else:
                delivery = await self.stripe.expire(session_id)
        except ValueError as refusal:
            return _page(str(refusal), status=409)
        sent = ", ".join(f"{url} answered {status}" for url, status in delivery.results)
        verb = "Paid" if action == "pay" else "Expired"
        return _page(f"{verb}. Webhook {delivery.event['type']}: {sent or 'no webhook URL set'}.")


def _page(what: str, *, form: str = "", status: int = 200) -> web.Response:
    return web.Response(
        text=PAGE.format(what=html.escape(what), form=form),
        content_type="text/html",
        status=status,
    )
