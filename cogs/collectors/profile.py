"""``/collector profile``: the fan's own view carries a button that makes it public or private."""

from __future__ import annotations

from typing import Any

import discord

from bot.ui import PersistentButton, guild_id_of, services_of, view_of


class VisibilityButton(PersistentButton, custom_id="dropbell:collector-visibility:{public}"):
    """On the fan's own (ephemeral) profile: flips whether other members may see it."""

    def button_label(self) -> str:
        return "Make it private" if self.number("public") else "Make it public"

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        facts, text = await services_of(interaction).collectors.toggle_public(
            guild_id_of(interaction), interaction.user.id
        )
        await interaction.response.edit_message(
            content=text,
            view=view_of(VisibilityButton(public=int(facts.public))),
            allowed_mentions=discord.AllowedMentions.none(),
        )


DYNAMIC_ITEMS = (VisibilityButton,)


async def answer_profile(
    interaction: discord.Interaction[Any], member: discord.Member | None
) -> None:
    viewer = interaction.user.id
    target = viewer if member is None else member.id
    facts, text = await services_of(interaction).collectors.profile(
        guild_id_of(interaction), viewer, target
    )
    if target != viewer:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return
    await interaction.response.send_message(
        text,
        ephemeral=True,
        view=view_of(VisibilityButton(public=int(facts.public))),
        allowed_mentions=discord.AllowedMentions.none(),
    )
