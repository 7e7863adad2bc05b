"""INTERACTION_CREATE payloads, and the REST side of interactions: the initial callback,
followups (webhooks) and @original edits, with Discord's token lifetime and message limits.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from . import payloads
from .http_util import (
    HTTPError,
    check_message_body,
    edit_message,
    form_error,
    jresp,
    new_message,
    no_content,
    read_body,
)
from .limits import Limits, RuleBook
from .models import FLAG_EPHEMERAL, FLAG_LOADING, Channel, Member, Message, User
from .results import InteractionRecord
from .validation import validate_modal
from .world import World

MODAL_RESPONSE = 9
MAX_RECORDS = 50_000  # tokens live 15 minutes on Discord; keep the newest ones


def interaction_payload(
    world: World,
    application_id: int,
    rec: InteractionRecord,
    invoker: Member | User,
    chan: Channel,
    data: dict[str, Any],
) -> dict[str, Any]:
    """INTERACTION_CREATE with what discord.py's Interaction reads. From a guild it carries
    ``guild_id`` and ``member``; from a DM (``invoker`` is a User) only ``user``, as Discord."""
    payload: dict[str, Any] = {
        "id": str(rec.id),
        "application_id": str(application_id),
        "type": rec.type,
        "token": rec.token,
        "version": 1,
        "attachment_size_limit": world.attachment_size_limit,
        "channel_id": str(chan.id),
        "app_permissions": str(world.bot_permissions_in(chan.id)),
        "locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "data": data,
    }
    if isinstance(invoker, User):
        payload.update(
            channel=payloads.channel(chan, world),
            user=payloads.user(invoker),
            authorizing_integration_owners={"1": str(invoker.id)},
            context=1,  # BOT_DM
        )
        return payload
    guild_id = str(invoker.guild_id)
    payload.update(
        guild_id=guild_id,
        guild={"id": guild_id, "locale": "en-US", "features": []},
        channel=payloads.channel(chan, world, permissions=invoker.permissions),
        member=payloads.member(invoker, permissions=True),
        guild_locale="en-US",
        authorizing_integration_owners={"0": guild_id},
        context=0,  # GUILD
    )
    return payload


class InteractionStore:
    """Live interactions by token, and the REST handlers that answer them."""

    def __init__(
        self, world: World, base_url: str, application_id: int, rules: RuleBook, limits: Limits
    ) -> None:
        self.world = world
        self.base_url = base_url
        self.application_id = application_id
        self.rules = rules
        self.limits = limits
        self.by_token: OrderedDict[str, InteractionRecord] = OrderedDict()
        self._tokens = itertools.count(1)
        self.deadline = 3.0  # seconds to answer, as on Discord

    def _strict_messages(self) -> bool:
        return self.rules.on("message_validation")

    def _check_token_alive(self, rec: InteractionRecord) -> None:
        """Discord's interaction tokens live 15 minutes; then every use is 401 / 50027."""
        if not self.rules.on("interaction_token_expiry"):
            return
        if time.perf_counter() - rec.dispatched_at > self.limits.interaction_token_lifetime:
            raise HTTPError(401, 50027, "Invalid Webhook Token")

    def new_token(self, interaction_id: int) -> str:
        return f"sbx.{interaction_id:x}.{next(self._tokens)}"

    def add(self, record: InteractionRecord) -> None:
        self.by_token[record.token] = record
        if len(self.by_token) > MAX_RECORDS:
            self.by_token.popitem(last=False)

    def _record(self, request: web.Request, id_key: str | None = None) -> InteractionRecord:
        token = request.match_info["webhook_token"]
        rec = self.by_token.get(token)
        if rec is None or (id_key and request.match_info[id_key] != str(rec.id)):
            raise HTTPError(404, 10062, "Unknown interaction")
        if id_key is None and request.match_info["webhook_id"] != str(self.application_id):
            raise HTTPError(404, 10015, "Unknown Webhook")
        self._check_token_alive(rec)
        return rec

    # POST /interactions/{webhook_id}/{webhook_token}/callback
    async def callback(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        token = request.match_info["webhook_token"]
        rec = self.by_token.get(token)
        if rec is None or request.match_info["webhook_id"] != str(rec.id):
            raise HTTPError(404, 10062, "Unknown interaction")
        self._check_token_alive(rec)
        if rec.response_type is not None:
            raise HTTPError(400, 40060, "Interaction has already been acknowledged.")
        if now - rec.dispatched_at > self.deadline:
            raise HTTPError(404, 10062, "Unknown interaction")
        body, uploads = await read_body(request, self.world.attachment_size_limit)
        rtype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 8, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[rec.type]
        if rtype not in allowed:
            raise HTTPError(400, 50035, f"Invalid Form Body: response type {rtype} not allowed")
        flags = int(data.get("flags") or 0)
        message: Message | None = None
        if rtype in (4, 7):
            check_message_body(data, uploads, strict=self._strict_messages(), creating=rtype == 4)
        if rtype == MODAL_RESPONSE:
            # Discord checks a modal always (no relaxing: a bad modal never reaches a member).
            modal_errors = validate_modal(data)
            if modal_errors.tree:
                raise form_error(modal_errors)
        if rtype == 4:
            message = new_message(
                self.world, rec.channel_id, data, uploads, self.base_url,
                interaction_id=rec.id, webhook_id=self.application_id,
            )  # fmt: skip
        elif rtype == 5:
            message = new_message(
                self.world, rec.channel_id, {"flags": flags & FLAG_EPHEMERAL, "content": ""}, {},
                self.base_url, interaction_id=rec.id, webhook_id=self.application_id,
            )  # fmt: skip
            message.flags |= FLAG_LOADING
        elif rtype in (6, 7):
            message = rec.component_message
            if rtype == 7 and message is not None:
                edit_message(self.world, message, data, uploads, self.base_url)
        rec.response_type = rtype
        rec.response_flags = flags
        rec.callback_data = data
        rec.original = message
        rec.callback_at = now
        if not rec.waiter.done():
            rec.waiter.set_result(None)
        rec.changed()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        interaction: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        resource: dict[str, Any] = {"type": rtype}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = rtype == 5
            interaction["response_message_ephemeral"] = message.ephemeral
            resource["message"] = payloads.message(message, self.world)
        return jresp({"interaction": interaction, "resource": resource})

    # POST /webhooks/{webhook_id}/{webhook_token}
    async def followup(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        if rec.response_type is None:
            raise HTTPError(404, 10015, "Unknown Webhook")
        body, uploads = await read_body(request, self.world.attachment_size_limit)
        check_message_body(body, uploads, strict=self._strict_messages())
        original = rec.original
        if rec.response_type == 5 and original is not None and original.flags & FLAG_LOADING:
            # Discord: the first followup after a deferred response edits the "thinking"
            # message instead of posting a new one, and keeps the defer's ephemerality.
            body.pop("flags", None)
            message = edit_message(self.world, original, body, uploads, self.base_url)
        else:
            message = new_message(
                self.world, rec.channel_id, body, uploads, self.base_url,
                interaction_id=rec.id, webhook_id=self.application_id,
            )  # fmt: skip
        rec.followups.append(message)
        rec.resolved = True
        rec.changed()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return jresp(payloads.message(message, self.world))
        return no_content()

    def _target(self, rec: InteractionRecord, message_id: str) -> Message:
        if message_id == "@original":
            if rec.original is None:
                raise HTTPError(404, 10008, "Unknown Message")
            return rec.original
        wanted = int(message_id) if message_id.isdigit() else -1
        for msg in [rec.original, *rec.followups]:
            if msg is not None and msg.id == wanted:
                return msg
        raise HTTPError(404, 10008, "Unknown Message")

    # GET/PATCH/DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}
    async def get_message(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        return jresp(payloads.message(msg, self.world))

    async def edit(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        body, uploads = await read_body(request, self.world.attachment_size_limit)
        check_message_body(body, uploads, strict=self._strict_messages(), creating=False)
        edit_message(self.world, msg, body, uploads, self.base_url)
        rec.resolved = True
        rec.changed()
        return jresp(payloads.message(msg, self.world))

    async def delete(self, request: web.Request) -> web.Response:
        rec = self._record(request)
        msg = self._target(rec, request.match_info["message_id"])
        self.world.delete_message(msg)
        if msg is rec.original:
            rec.original = None
        elif msg in rec.followups:
            rec.followups.remove(msg)
        rec.changed()
        return no_content()
