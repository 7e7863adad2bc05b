"""Injecting interactions the way a member (or a user in DMs) would cause them: slash
commands, autocomplete and component clicks. Part of :class:`sandbox.Sandbox`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import payloads
from .builder import CommandBuilder
from .gateway import Gateway
from .interactions import InteractionStore, interaction_payload
from .models import Channel, Member, Message, SandboxError, Snowflakes, User
from .results import InteractionRecord, InteractionResult
from .world import World

SELECT_TYPES = (3, 5, 6, 7, 8)
BOT_DM_CONTEXT = 1


class InjectionMixin:
    world: World
    ids: Snowflakes
    gateway: Gateway
    application_id: int
    bot_user_id: int
    stats: Any
    _store: InteractionStore | None
    _builder: CommandBuilder | None

    @property
    def store(self) -> InteractionStore:
        if self._store is None:
            raise RuntimeError("sandbox: call await sb.start() first")
        return self._store

    def _builder_or_fail(self) -> CommandBuilder:
        if self._builder is None:
            raise RuntimeError("sandbox: call await sb.start() first")
        return self._builder

    def _member_and_channel(
        self, member: Member, channel: Channel | int | None
    ) -> tuple[Member, Channel]:
        guild = self.world.guild(member.guild_id)
        if channel is None:
            chan = self.world.channels[guild.channel_ids[0]]
        else:
            found = self.world.channels.get(channel if isinstance(channel, int) else channel.id)
            if found is None:
                raise SandboxError(f"no channel {channel!r}")
            chan = found
        if chan.type == 0 and chan.guild_id != guild.id:
            raise SandboxError(f"channel {chan.id} is not in the member's guild")
        return member, chan

    def _dispatch_interaction(
        self,
        type_: int,
        invoker: Member | User,
        chan: Channel,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> InteractionRecord:
        store = self.store
        iid = self.ids.now()
        guild_id = invoker.guild_id if isinstance(invoker, Member) else None
        rec = InteractionRecord(
            iid, store.new_token(iid), type_, guild_id, chan.id, invoker.id, message
        )
        payload = interaction_payload(self.world, self.application_id, rec, invoker, chan, data)
        if message is not None:
            payload["message"] = payloads.message(message, self.world)
        store.add(rec)
        rec.dispatched_at = time.perf_counter()
        if not self.gateway.dispatch("INTERACTION_CREATE", payload):
            raise SandboxError("no bot has identified with the sandbox yet (await wait_for_bot)")
        self.stats["interactions"] += 1
        return rec

    async def _answer(self, rec: InteractionRecord, timeout: float, what: str) -> InteractionResult:
        try:
            await asyncio.wait_for(rec.waiter, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"sandbox: the bot did not answer {what} within {timeout}s "
                f"(no POST /interactions/{rec.id}/<token>/callback arrived)"
            ) from None
        return InteractionResult(rec)

    async def slash(
        self,
        member: Member,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel: Channel | int | None = None,
        timeout: float = 5.0,
    ) -> InteractionResult:
        member, chan = self._member_and_channel(member, channel)
        data = self._builder_or_fail().build(member.guild_id, command, options or {})
        rec = self._dispatch_interaction(2, member, chan, data)
        return await self._answer(rec, timeout, f"/{command}")

    async def dm_slash(
        self,
        user: User | Member,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,
    ) -> InteractionResult:
        """A global command used in the user's DM with the bot: ``user``, no guild, no member."""
        who = user.user if isinstance(user, Member) else user
        builder = self._builder_or_fail()
        top = command.split()[0] if command.split() else command
        schema = builder.find(None, top)
        contexts = schema.get("contexts")
        if schema.get("dm_permission") is False or (
            contexts is not None and BOT_DM_CONTEXT not in contexts
        ):
            raise SandboxError(f"/{top} cannot be used in DMs (contexts={contexts})")
        data = builder.build(None, command, options or {})
        chan = self.world.dm_channel(who.id)
        rec = self._dispatch_interaction(2, who, chan, data)
        return await self._answer(rec, timeout, f"/{command} in DMs")

    async def autocomplete(
        self,
        member: Member,
        command: str,
        options: dict[str, Any],
        *,
        focused: str,
        channel: Channel | int | None = None,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        member, chan = self._member_and_channel(member, channel)
        data = self._builder_or_fail().build(member.guild_id, command, options, focused=focused)
        rec = self._dispatch_interaction(4, member, chan, data)
        result = await self._answer(rec, timeout, f"autocomplete of /{command} {focused}")
        return result.choices

    async def click(
        self,
        member: Member | User,
        message: Message | int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        timeout: float = 5.0,
    ) -> InteractionResult:
        """Press a component. In a DM pass the User (or a Member: its user is taken)."""
        msg_id = message if isinstance(message, int) else message.id
        msg = self.world.messages_by_id.get(msg_id)
        if msg is None:
            raise SandboxError(f"no message {msg_id}")
        if msg.author_id != self.bot_user_id:
            raise SandboxError("only components on the bot's own messages can be clicked")
        components = msg.components_by_id()
        if custom_id not in components:
            listed = ", ".join(components)
            raise SandboxError(f"message {msg.id} has no component {custom_id!r} (has: {listed})")
        component = components[custom_id]
        if component.get("disabled"):
            # Discord's client greys a disabled component out: no member can press it.
            raise SandboxError(f"component {custom_id!r} on message {msg.id} is disabled")
        kind = int(component["type"])
        chan = self.world.channels[msg.channel_id]
        invoker: Member | User
        if chan.type == 1:
            invoker = member.user if isinstance(member, Member) else member
            if invoker.id != chan.recipient_id:
                raise SandboxError(f"message {msg.id} is in another user's DMs")
        elif isinstance(member, Member):
            invoker, chan = self._member_and_channel(member, msg.channel_id)
        else:
            raise SandboxError("a click in a guild channel needs a Member, not a User")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": kind}
        if values is not None or kind in SELECT_TYPES:
            data["values"] = list(values or [])
        rec = self._dispatch_interaction(3, invoker, chan, data, msg)
        return await self._answer(rec, timeout, f"the click on {custom_id!r}")

    async def submit_modal(
        self,
        member: Member | User,
        shown: InteractionResult,
        values: dict[str, str] | None = None,
        *,
        timeout: float = 5.0,
    ) -> InteractionResult:
        """Fill in and submit the modal the bot answered ``shown`` with, as Discord's client
        does: fields left out keep their prefilled value; a required field left empty, or a
        value outside its min/max length, cannot be submitted (the client refuses); a modal is
        submitted once, by the member it was shown to."""
        rec = shown.record
        modal = shown.modal
        if modal is None:
            raise SandboxError("that interaction was not answered with a modal")
        if rec.modal_submitted:
            raise SandboxError("that modal was already submitted (Discord closes it)")
        who = member.user if isinstance(member, Member) else member
        if who.id != rec.user_id:
            raise SandboxError("a modal is shown only to the member who opened it")
        given = dict(values or {})
        inputs = _modal_inputs(modal)
        unknown = set(given) - {str(comp.get("custom_id")) for comp in inputs}
        if unknown:
            raise SandboxError(f"the modal has no text input {sorted(unknown)!r}")
        rows = []
        for comp in inputs:
            custom_id = str(comp.get("custom_id"))
            value = given.get(custom_id, str(comp.get("value") or ""))
            required = comp.get("required", True)
            low = int(comp.get("min_length") or 0)
            high = int(comp.get("max_length") or 4000)
            if required and not value:
                raise SandboxError(f"text input {custom_id!r} is required (the client refuses)")
            if value and not low <= len(value) <= high:
                raise SandboxError(
                    f"text input {custom_id!r} takes {low} to {high} characters, not {len(value)}"
                )
            rows.append(
                {"type": 1, "components": [{"type": 4, "custom_id": custom_id, "value": value}]}
            )
        rec.modal_submitted = True
        chan = self.world.channels[rec.channel_id]
        invoker: Member | User = member
        if isinstance(member, Member):
            invoker, chan = self._member_and_channel(member, rec.channel_id)
        data = {"custom_id": modal["custom_id"], "components": rows}
        # From a component's modal, Discord includes that component's message.
        submitted = self._dispatch_interaction(5, invoker, chan, data, rec.component_message)
        return await self._answer(submitted, timeout, f"the modal {modal['custom_id']!r}")


def _modal_inputs(modal: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = []
    for row in modal.get("components") or []:
        if row.get("type") == 18:
            inputs.append(row.get("component") or {})
        else:
            inputs.extend(row.get("components") or [])
    return inputs
