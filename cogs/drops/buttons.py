"""The persistent buttons on a drop announcement. The custom_id carries the drop id, so they
keep working after a restart with nothing held in memory."""

from __future__ import annotations

from typing import Any

import discord

from bot.ui import PersistentButton
from cogs.drops import claim, waitlist


class JoinButton(PersistentButton, custom_id="dropbell:join:{drop_id}"):
    label = "Join waitlist"
    style = discord.ButtonStyle.success

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await waitlist.answer_join(interaction, self.number("drop_id"))


class RemindButton(PersistentButton, custom_id="dropbell:remind:{drop_id}"):
    label = "Remind me"

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await waitlist.answer_reminder_toggle(interaction, self.number("drop_id"))


class ClaimButton(PersistentButton, custom_id="dropbell:claim:{drop_id}"):
    label = "Get my link"
    style = discord.ButtonStyle.primary

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await claim.answer_claim(interaction, self.number("drop_id"))


DYNAMIC_ITEMS = (JoinButton, RemindButton, ClaimButton)
