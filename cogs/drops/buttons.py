"""The persistent buttons on a drop announcement. The custom_id carries the drop id, so they
keep working after a restart with nothing held in memory."""

from __future__ import annotations

from typing import Any

import discord

from bot.ui import RoutedButton


def _waitlist_cog(interaction: discord.Interaction[Any]) -> Any:
    cog = interaction.client.get_cog("Waitlist")
    if cog is None:
        raise RuntimeError("the waitlist feature is not loaded")
    return cog


class JoinButton(
    RoutedButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"dropbell:join:(?P<drop_id>\d+)",
):
    def __init__(self, drop_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Join waitlist",
                style=discord.ButtonStyle.success,
                custom_id=f"dropbell:join:{drop_id}",
            )
        )
        self.drop_id = drop_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> JoinButton:
        return cls(int(match["drop_id"]))

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await _waitlist_cog(interaction).join(interaction, self.drop_id)


class RemindButton(
    RoutedButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"dropbell:remind:(?P<drop_id>\d+)",
):
    def __init__(self, drop_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Remind me",
                style=discord.ButtonStyle.secondary,
                custom_id=f"dropbell:remind:{drop_id}",
            )
        )
        self.drop_id = drop_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> RemindButton:
        return cls(int(match["drop_id"]))

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await _waitlist_cog(interaction).toggle_reminder(interaction, self.drop_id)


DYNAMIC_ITEMS = (JoinButton, RemindButton)
