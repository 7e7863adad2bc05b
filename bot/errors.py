"""The one error path: every failure reaches the user as one short ephemeral sentence.

Expected refusals (bad input, a missing permission, an unmet requirement) are raised as
:class:`UserError` by service code and shown as they are. Anything else is a bug: the log gets
the traceback with a short error id, and the user gets a sentence that quotes the id.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot import interaction_meter
from services.errors import UserError, new_error_id

__all__ = ["NotManager", "UserError", "report", "sentence_for"]

log = logging.getLogger("dropbell.errors")


class NotManager(app_commands.CheckFailure):
    """The member may not use manager commands in this server."""


def sentence_for(error: BaseException) -> str | None:
    """The user-facing sentence for an expected error, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        original = getattr(error, "original", None) or error.__cause__
        if isinstance(original, UserError):
            return original.sentence
        if isinstance(error, app_commands.TransformerError):
            return f"{error.value!r} is not a valid value here; please pick one from the list."
        return None
    if isinstance(error, UserError):
        return error.sentence
    if isinstance(error, NotManager):
        return (
            "Only managers can do that: you need the Manage Server permission or the manager "
            "role set with /dropbell setup."
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works inside a server."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


async def reply_ephemeral(interaction: discord.Interaction, sentence: str) -> None:
    """Answer once, whether or not the interaction was already responded to."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(sentence, ephemeral=True)
        else:
            await interaction.response.send_message(sentence, ephemeral=True)
    except discord.HTTPException:
        # The interaction token may have expired; nothing more can reach the user.
        log.warning("could not deliver an error reply for interaction %s", interaction.id)


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    """Route any command, button or modal error to the user and the log."""
    sentence = sentence_for(error)
    if sentence is None:
        error_id = new_error_id()
        cause = getattr(error, "original", None) or error
        log.error(
            "error %s in interaction %s (%s) by user %s",
            error_id,
            interaction.id,
            _describe_interaction(interaction),
            interaction.user.id,
            exc_info=(type(cause), cause, cause.__traceback__),
        )
        interaction_meter.reported(interaction, "error")
        sentence = (
            f"Something went wrong on our side (error {error_id}). It has been logged; "
            "please try again in a moment."
        )
    else:
        # A refusal is the product working (sold out, not your turn): thousands of them in a
        # claim storm cost ~5% of the bot's time at INFO (claim_storm --profile); debug only.
        log.debug("refused interaction %s: %s", interaction.id, sentence)
        interaction_meter.reported(interaction, "refused")
    await reply_ephemeral(interaction, sentence)


def _describe_interaction(interaction: discord.Interaction) -> str:
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data: dict[str, object] = dict(interaction.data or {})
    return str(data.get("custom_id", "interaction"))
