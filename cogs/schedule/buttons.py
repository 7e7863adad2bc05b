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

from bot.ui import PersistentButton, require_manager, services_of, view_of
from services.schedule.announcements import local_time


class StopRemindersButton(PersistentButton, custom_id="dropbell:remindoff:{drop_id}"):
    label = "Stop reminders"

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        drop = await services_of(interaction).schedule.drop_plan.stop_reminders(
            self.number("drop_id"), interaction.user.id
        )
        name = f"**{drop.name}**" if drop else "this drop"
        await interaction.response.send_message(
            f"Reminders for {name} are off; I won't DM you about it again. Press Remind me on "
            "its announcement to turn them back on.",
            ephemeral=True,
        )


def stop_reminders_view(drop_id: int) -> discord.ui.View:
    return view_of(StopRemindersButton(drop_id=drop_id))


class AnnounceDecision(
    PersistentButton, custom_id="dropbell:announce:{action:confirm|discard}:{send_id}"
):
    def button_label(self) -> str:
        return "Confirm" if self.fields["action"] == "confirm" else "Cancel"

    def button_style(self) -> discord.ButtonStyle:
        if self.fields["action"] == "confirm":
            return discord.ButtonStyle.success
        return discord.ButtonStyle.secondary

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        await require_manager(interaction)
        announcements = services_of(interaction).schedule.announcements
        send_id = self.number("send_id")
        if self.fields["action"] == "discard":
            await announcements.discard(send_id, interaction.user.id)
            await interaction.response.edit_message(
                content="Discarded: nothing was scheduled.", embed=None, view=None
            )
            return
        row = await announcements.confirm(send_id, interaction.user.id)
        repeat = f", repeating {row.repeat}" if row.repeat else ""
        await interaction.response.edit_message(
            content=(
                f"Scheduled for <#{row.channel_id}> at {local_time(row)} "
                f"({discord.utils.format_dt(row.due_at, 'R')}){repeat}. "
                "See /announce list; undo with /announce cancel."
            ),
            view=None,
        )


def preview_view(send_id: int) -> discord.ui.View:
    return view_of(
        AnnounceDecision(action="confirm", send_id=send_id),
        AnnounceDecision(action="discard", send_id=send_id),
    )


DYNAMIC_ITEMS = (StopRemindersButton, AnnounceDecision)
