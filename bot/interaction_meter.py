"""Counting every interaction (kind, command, outcome) and timing its first response.

Three moments, each met in one place for all commands, buttons, modals and autocompletes:

- received: ``Dropbell.dispatch("interaction")``, which discord.py calls for every interaction
  right after creating its handler task and before that task first runs. The time is noted and
  the interaction's response object becomes a :class:`_TimedResponse`, which observes
  ``dropbell_answer_seconds`` when the first response (a message, a defer, a modal, choices)
  has been accepted.
- handling: the first thing a handler's task runs (the tree's ``interaction_check`` for commands
  and autocompletes, :class:`bot.ui.PersistentButton`, :class:`bot.ui.DropbellModal`). When that
  task ends, the interaction is counted: its outcome was set by :func:`bot.errors.report`
  (refused or error), else ok if it was answered, else error (the fan saw "This interaction
  failed": an autocomplete that raised, a handler that never answered).
- reported: :func:`bot.errors.report`; an interaction that failed before any handler ran (an
  unknown command) is counted there and then.

All of it is a few dict operations, one counter increment and one histogram observe per
interaction: no await, no database.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import discord

from services import metrics

_RECEIVED = "dropbell.received"
_TRACKED = "dropbell.tracked"
_OUTCOME = "dropbell.outcome"

_KINDS = {
    discord.InteractionType.application_command: "command",
    discord.InteractionType.autocomplete: "autocomplete",
    discord.InteractionType.component: "button",
    discord.InteractionType.modal_submit: "modal",
}
_ANSWER_SECONDS = {kind: metrics.ANSWER_SECONDS.labels(kind=kind) for kind in _KINDS.values()}


def kind_of(interaction: discord.Interaction[Any]) -> str:
    return _KINDS.get(interaction.type, "other")


def name_of(interaction: discord.Interaction[Any]) -> str:
    """A label with few values: ``/drop edit`` for commands, ``dropbell:join`` for buttons and
    modals (their custom ids without the ids they carry)."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data: dict[str, Any] = dict(interaction.data or {})
    if "custom_id" in data:
        return ":".join(str(data["custom_id"]).split(":")[:2])
    return f"/{data.get('name', '?')}"


class _TimedResponse(discord.InteractionResponse[Any]):
    """discord.py marks a response done by setting ``_response_type`` once its request has
    succeeded; this observes the time at that moment, whichever method answered."""

    __slots__ = ("_type",)

    @property
    def _response_type(self) -> discord.InteractionResponseType | None:
        return self._type

    @_response_type.setter
    def _response_type(self, value: discord.InteractionResponseType | None) -> None:
        if value is not None and getattr(self, "_type", None) is None:
            interaction = self._parent
            received = interaction.extras.get(_RECEIVED)
            answer_seconds = _ANSWER_SECONDS.get(kind_of(interaction))
            if received is not None and answer_seconds is not None:
                answer_seconds.observe(time.perf_counter() - received)
        self._type = value


def received(interaction: discord.Interaction[Any]) -> None:
    interaction.extras[_RECEIVED] = time.perf_counter()
    # Interaction.response is created on first use; nothing has used it yet (the handler task
    # has not run). If something ever had, its answer is simply not timed.
    if getattr(interaction, "_cs_response", None) is None:
        setattr(interaction, "_cs_response", _TimedResponse(interaction))  # noqa: B010


def handling(interaction: discord.Interaction[Any]) -> None:
    """Count the interaction when the current (handler) task ends."""
    task = asyncio.current_task()
    if task is None or interaction.extras.get(_TRACKED):
        return
    interaction.extras[_TRACKED] = True
    task.add_done_callback(lambda _task: _count_at_end(interaction))


def reported(interaction: discord.Interaction[Any], outcome: str) -> None:
    """``outcome`` (refused or error) for an interaction the error path answered."""
    if interaction.extras.get(_TRACKED):
        interaction.extras[_OUTCOME] = outcome  # counted when its task ends
    else:
        _count(interaction, outcome)


def _count_at_end(interaction: discord.Interaction[Any]) -> None:
    outcome = interaction.extras.get(_OUTCOME)
    if outcome is None:
        outcome = "ok" if interaction.response.is_done() else "error"
    _count(interaction, outcome)


def _count(interaction: discord.Interaction[Any], outcome: str) -> None:
    metrics.INTERACTIONS.labels(
        kind=kind_of(interaction), command=name_of(interaction), outcome=outcome
    ).inc()
