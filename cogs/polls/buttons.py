"""The poll's persistent buttons: the custom_id carries the poll, the option and the quantity,
so a panel keeps working after a restart with nothing held in memory."""

from __future__ import annotations

from typing import Any

import discord

from bot.ui import PersistentButton, guild_id_of, require_manager, services_of
from cogs.polls.render import panel_view
from services.polls.wording import committed_sentence, option_prompt


class OptionButton(PersistentButton, custom_id="dropbell:poll:{poll_id}:{option_idx}"):
    style = discord.ButtonStyle.primary

    def button_label(self) -> str:
        return str(self.fields.get("label", "Option"))[:80]

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        polls = services_of(interaction).polls
        poll, option, options, mine = await polls.panel(
            guild_id_of(interaction),
            self.number("poll_id"),
            self.number("option_idx"),
            interaction.user.id,
        )
        await interaction.response.send_message(
            option_prompt(poll, option, mine, options, polls.currency),
            view=panel_view(poll.id, option.idx, mine.get(option.idx)),
            ephemeral=True,
        )


async def _commit(
    interaction: discord.Interaction[Any], button: PersistentButton, quantity: int
) -> None:
    polls = services_of(interaction).polls
    committed = await polls.commit(
        guild_id_of(interaction),
        button.number("poll_id"),
        button.number("option_idx"),
        interaction.user.id,
        interaction.user.display_name,
        quantity,
    )
    # The press's one REST call: UPDATE_MESSAGE of the fan's own ephemeral panel, so the panel
    # always shows their current quantity and they never collect a stack of answers.
    await interaction.response.edit_message(
        content=committed_sentence(committed, polls.currency),
        view=panel_view(committed.poll.id, committed.option_idx, committed.quantity or None),
    )


class CommitButton(PersistentButton, custom_id="dropbell:commit:{poll_id}:{option_idx}:{quantity}"):
    def button_label(self) -> str:
        return str(self.fields["quantity"])

    def button_style(self) -> discord.ButtonStyle:
        current = bool(self.fields.get("current"))
        return discord.ButtonStyle.success if current else discord.ButtonStyle.secondary

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await _commit(interaction, self, self.number("quantity"))


class WithdrawButton(PersistentButton, custom_id="dropbell:withdraw:{poll_id}:{option_idx}"):
    label = "Withdraw"
    style = discord.ButtonStyle.danger

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await _commit(interaction, self, 0)


class PollDropButton(PersistentButton, custom_id="dropbell:polldrop:{poll_id}"):
    """On the results post: managers only (checked on the press), opens the drop modal."""

    label = "Create drop from this poll"
    style = discord.ButtonStyle.success

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        from cogs.polls.drop_modal import open_drop_modal

        await require_manager(interaction)
        await open_drop_modal(interaction, self.number("poll_id"))


DYNAMIC_ITEMS = (OptionButton, CommitButton, WithdrawButton, PollDropButton)
