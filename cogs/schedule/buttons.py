"""Persistent buttons of the schedule feature; the custom_id carries the state.

- ``dropbell:remindoff:<drop_id>`` — "Stop reminders" in a reminder DM (works without a server:
  the drop's own ``dropbell:remind:<drop_id>`` toggle needs one).
- ``dropbell:announce:confirm:<send_id>`` / ``dropbell:announce:discard:<send_id>`` — the
  buttons of an ``/announce schedule`` preview; the draft waits in the table, so a restart
  between preview and confirm loses nothing.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.managers import require_manager
from bot.ui import RoutedButton


def _service(interaction: discord.Interaction[Any]) -> Any:
    return interaction.client.schedule_service


class StopRemindersButton(
    RoutedButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"dropbell:remindoff:(?P<drop_id>\d+)",
):
    def __init__(self, drop_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Stop reminders",
                style=discord.ButtonStyle.secondary,
                custom_id=f"dropbell:remindoff:{drop_id}",
            )
        )
        self.drop_id = drop_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> StopRemindersButton:
        return cls(int(match["drop_id"]))

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        drop = await _service(interaction).stop_reminders(self.drop_id, interaction.user.id)
        name = f"**{drop.name}**" if drop else "this drop"
        await interaction.response.send_message(
            f"Reminders for {name} are off; I won't DM you about it again. Press Remind me on "
            "its announcement to turn them back on.",
            ephemeral=True,
        )


def stop_reminders_view(drop_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StopRemindersButton(drop_id))
    return view


class AnnounceDecision(
    RoutedButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"dropbell:announce:(?P<action>confirm|discard):(?P<send_id>\d+)",
):
    def __init__(self, action: str, send_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Confirm" if action == "confirm" else "Cancel",
                style=(
                    discord.ButtonStyle.success
                    if action == "confirm"
                    else discord.ButtonStyle.secondary
                ),
                custom_id=f"dropbell:announce:{action}:{send_id}",
            )
        )
        self.action = action
        self.send_id = send_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> AnnounceDecision:
        return cls(match["action"], int(match["send_id"]))

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await require_manager(interaction)
        service = _service(interaction)
        if self.action == "discard":
            await service.discard(self.send_id, interaction.user.id)
            await interaction.response.edit_message(
                content="Discarded: nothing was scheduled.", view=None
            )
            return
        row = await service.confirm(self.send_id, interaction.user.id)
        repeat = f", repeating {row.repeat}" if row.repeat else ""
        await interaction.response.edit_message(
            content=(
                f"Scheduled for <#{row.channel_id}> at {service.local_time(row)} "
                f"({discord.utils.format_dt(row.due_at, 'R')}){repeat}. "
                "See /announce list; undo with /announce cancel."
            ),
            view=None,
        )


def preview_view(send_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(AnnounceDecision("confirm", send_id))
    view.add_item(AnnounceDecision("discard", send_id))
    return view


DYNAMIC_ITEMS = (StopRemindersButton, AnnounceDecision)
