"""What a test gets back from ``slash``/``click``: the interaction's response, live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from .models import FLAG_EPHEMERAL, Message


class InteractionRecord:
    """Server-side state of one interaction (token, response, followups)."""

    __slots__ = (
        "_changed",
        "callback_at",
        "callback_data",
        "channel_id",
        "component_message",
        "dispatched_at",
        "followups",
        "guild_id",
        "id",
        "modal_submitted",
        "original",
        "resolved",
        "response_flags",
        "response_type",
        "token",
        "type",
        "user_id",
        "waiter",
    )

    def __init__(
        self,
        interaction_id: int,
        token: str,
        type_: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        component_message: Message | None = None,
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.type = type_
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.component_message = component_message
        self.dispatched_at = 0.0
        self.callback_at: float | None = None
        self.response_type: int | None = None
        self.response_flags = 0
        self.callback_data: dict[str, Any] = {}
        self.original: Message | None = None
        self.followups: list[Message] = []
        # A deferred response (5 or 6) got its answer: a followup or an edit arrived.
        self.resolved = False
        # A modal shown in answer to this interaction closes when submitted: once.
        self.modal_submitted = False
        self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changed: asyncio.Event | None = None

    def changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"sandbox: interaction {self.id}: timed out after {timeout}s waiting for {what}"
                )
            if self._changed is None:
                self._changed = asyncio.Event()
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)


def message_text(message: Message | None) -> str:
    if message is None:
        return ""
    parts = [message.content] if message.content else []
    for embed in message.embeds:
        for key in ("title", "description"):
            if embed.get(key):
                parts.append(str(embed[key]))
        for fld in embed.get("fields") or []:
            parts.append(f"{fld.get('name', '')}: {fld.get('value', '')}")
        footer = embed.get("footer") or {}
        if footer.get("text"):
            parts.append(str(footer["text"]))
    return "\n".join(parts)


class InteractionResult:
    """The response to one injected interaction; attributes reflect the latest state."""

    def __init__(self, record: InteractionRecord) -> None:
        self._rec = record

    def __repr__(self) -> str:
        return (
            f"<InteractionResult id={self.id} type={self.response_type} "
            f"ephemeral={self.ephemeral} text={self.text[:60]!r}>"
        )

    @property
    def id(self) -> int:
        return self._rec.id

    @property
    def token(self) -> str:
        return self._rec.token

    @property
    def response_type(self) -> int | None:
        return self._rec.response_type

    @property
    def ephemeral(self) -> bool:
        if self.message is not None:
            return self.message.ephemeral
        return bool(self._rec.response_flags & FLAG_EPHEMERAL)

    @property
    def message(self) -> Message | None:
        return self._rec.original

    @property
    def content(self) -> str:
        return self.message.content if self.message is not None else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.embeds if self.message is not None else []

    @property
    def components(self) -> list[dict[str, Any]]:
        if self.message is not None:
            return self.message.components
        return list(self._rec.callback_data.get("components") or [])

    @property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        if self.message is None:
            return []
        return [(f.filename, f.data, f.content_type) for f in self.message.attachments]

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self._rec.callback_data.get("choices") or [])

    @property
    def modal(self) -> dict[str, Any] | None:
        return self._rec.callback_data if self._rec.response_type == 9 else None

    @property
    def record(self) -> InteractionRecord:
        return self._rec

    @property
    def latency(self) -> float:
        if self._rec.callback_at is None:
            raise RuntimeError("sandbox: the interaction has not been answered yet")
        return self._rec.callback_at - self._rec.dispatched_at

    @property
    def followups(self) -> list[Message]:
        return list(self._rec.followups)

    @property
    def text(self) -> str:
        return message_text(self.message)

    async def wait_followup(self, n: int = 1, timeout: float = 5.0) -> Message:
        """Wait until at least ``n`` followups exist; return the n-th."""
        await self._rec.wait_until(lambda: len(self._rec.followups) >= n, timeout, f"followup #{n}")
        return self._rec.followups[n - 1]

    async def wait_edit(self, n: int = 1, timeout: float = 5.0) -> InteractionResult:
        """Wait until the original response was edited ``n`` times (a deferred one filled in)."""

        def edited() -> bool:
            msg = self._rec.original
            return msg is not None and msg.edits >= n

        await self._rec.wait_until(edited, timeout, f"edit #{n} of the original response")
        return self

    @property
    def loading(self) -> bool:
        """A deferred response whose answer (followup or edit) has not arrived yet."""
        return self._rec.response_type in (5, 6) and not self._rec.resolved

    async def wait_final(self, timeout: float = 5.0) -> InteractionResult:
        """For a deferred response, wait for the answer the member finally sees."""
        if self._rec.response_type in (5, 6):
            await self._rec.wait_until(lambda: self._rec.resolved, timeout, "the deferred answer")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "response_type": self.response_type,
            "loading": self.loading,
            "ephemeral": self.ephemeral,
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [
                {"filename": name, "size": len(data), "content_type": ctype}
                for name, data, ctype in self.attachments
            ],
            "choices": self.choices,
            "message_id": str(self.message.id) if self.message else None,
            "followups": [
                {"id": str(m.id), "content": m.content, "ephemeral": m.ephemeral}
                for m in self._rec.followups
            ],
            "text": self.text,
            "latency_ms": None if self._rec.callback_at is None else round(self.latency * 1000, 3),
        }
