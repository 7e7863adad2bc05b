"""Get my link: the fan's purchase link as a link button, or one sentence saying why not."""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any

import discord

from bot.ui import guild_id_of, services_of
from cogs.drops.options import member_facts
from services.localtime import discord_timestamp, utcnow
from storage.claims import Claim, Claimed
from storage.drops import Drop
from storage.orders import Applied, Outcome
from storage.states import ClaimState

# An interaction token lives 15 minutes; edit a fan's answer only well within that.
ANSWER_EDITABLE_SECONDS = 14 * 60


def claim_sentence(drop: Drop, claim: Claim, *, again: bool) -> str:
    if claim.state == ClaimState.PAID:
        return f"You bought **{drop.name}** — thank you! (order {claim.order_ref or 'received'})"
    if claim.state == ClaimState.REFUNDED:
        return f"Your **{drop.name}** order was refunded."
    if claim.state == ClaimState.EXPIRED or claim.hold_until <= utcnow():
        return (
            f"Your hold on **{drop.name}** ended {discord_timestamp(claim.hold_until, 'R')} "
            "unpaid, so its unit went back for the next fan."
        )
    head = "Here is your link again" if again else "Your unit is held"
    return (
        f"{head} for **{drop.name}**: {claim.url}\n"
        f"It holds your unit until {discord_timestamp(claim.hold_until, 't')} "
        f"({discord_timestamp(claim.hold_until, 'R')}); unpaid by then, it goes to the next fan."
    )


def link_view(claim: Claim) -> discord.ui.View | None:
    if claim.state != ClaimState.HELD or not claim.url or claim.hold_until <= utcnow():
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Buy now", style=discord.ButtonStyle.link, url=claim.url))
    return view


class ClaimAnswers:
    """Fans' claim answers still editable, so a paid order can update the fan's message."""

    def __init__(self) -> None:
        self._answers: dict[int, tuple[float, discord.Interaction[Any]]] = {}

    def keep(self, claim_id: int, interaction: discord.Interaction[Any]) -> None:
        now = time.monotonic()
        self._answers = {
            key: kept
            for key, kept in self._answers.items()
            if now - kept[0] < ANSWER_EDITABLE_SECONDS
        }
        self._answers[claim_id] = (now, interaction)

    async def order_applied(self, applied: Applied) -> None:
        if applied.claim_id is None or applied.outcome not in (Outcome.PAID, Outcome.LATE_PAID):
            return
        kept = self._answers.pop(applied.claim_id, None)
        if kept is None or time.monotonic() - kept[0] >= ANSWER_EDITABLE_SECONDS:
            return
        interaction = kept[1]
        # The fan may have dismissed it, or the token ended: the order is recorded anyway.
        with contextlib.suppress(discord.HTTPException):
            await interaction.edit_original_response(
                content=f"✅ Paid — thank you! (order {applied.order_ref or 'received'})",
                view=None,
            )


# One per bot (tests run several bots in one process), gone with the bot.
_ANSWERS: weakref.WeakKeyDictionary[discord.Client, ClaimAnswers] = weakref.WeakKeyDictionary()


def answers_of(client: discord.Client) -> ClaimAnswers:
    if client not in _ANSWERS:
        _ANSWERS[client] = ClaimAnswers()
    return _ANSWERS[client]


async def answer_claim(interaction: discord.Interaction[Any], drop_id: int) -> None:
    claimed: Claimed = await services_of(interaction).drop_day.claims.claim(
        guild_id_of(interaction),
        drop_id,
        interaction.user.id,
        interaction.user.display_name,
        member_facts(interaction.user),
    )
    claim = claimed.claim
    view = link_view(claim)
    kwargs: dict[str, Any] = {"ephemeral": True}
    if view is not None:
        kwargs["view"] = view
    # The one REST call of a claim; stock on the posts follows off the hot path.
    await interaction.response.send_message(
        claim_sentence(claimed.drop, claim, again=claimed.already), **kwargs
    )
    if claim.state == ClaimState.HELD:
        answers_of(interaction.client).keep(claim.id, interaction)
