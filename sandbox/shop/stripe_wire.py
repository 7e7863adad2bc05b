"""How Stripe talks on the wire: form-encoded nested parameters, its JSON errors, and the
``Stripe-Signature`` header of a webhook delivery (with helpers to tamper with one)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


class StripeError(Exception):
    """Raised inside a handler; becomes Stripe's ``{"error": {...}}`` answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status,
            message,
            type_,
            code,
            param,
        )

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        return error_response(
            self.status, self.message, type_=self.type, code=self.code, param=self.param,
            headers=headers,
        )  # fmt: skip


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return web.json_response({"error": error}, status=status, headers=headers)


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys as nested values: ``line_items[0][price]=p`` becomes
    ``{"line_items": [{"price": "p"}]}``; ``expand[]=a`` appends to a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # "name[]": the parent is a list
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid parameter: {key}.", param=key)
                node = child
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


# --- webhook deliveries -------------------------------------------------------------------


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``t=…,v1=…``: HMAC-SHA256 over ``"{t}.{body}"``, as Stripe signs every delivery."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as Stripe would POST it: the event, its raw body and headers.

    The ``with_…``/``without_…`` methods give a tampered copy for tests; sending the same
    delivery twice is a replay.
    """

    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    # Filled when sent: (url, HTTP status or 0 when the target could not be reached).
    results: list[tuple[str, int]] = dataclasses.field(default_factory=list, compare=False)

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def statuses(self) -> list[int]:
        return [status for _, status in self.results]

    def with_bad_signature(self) -> Delivery:
        header = signature_header(self.body, "not-the-secret", int(time.time()))
        return self._copy(headers={**self.headers, "Stripe-Signature": header})

    def without_signature(self) -> Delivery:
        headers = {k: v for k, v in self.headers.items() if k != "Stripe-Signature"}
        return self._copy(headers=headers)

    def with_body(self, body: bytes) -> Delivery:
        """Another body under the original signature (what a forger would send)."""
        return self._copy(body=body)

    def _copy(self, **changes: Any) -> Delivery:
        return dataclasses.replace(self, results=[], **changes)


def make_delivery(event: dict[str, Any], secret: str, timestamp: int | None = None) -> Delivery:
    body = json.dumps(event, separators=(",", ":")).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, secret, stamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return Delivery(event, body, headers)
