"""``/privacy export`` and ``/privacy forget`` (with its confirm and cancel buttons)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import errors
from bot.ui import PersistentButton, guild_id_of, services_of, view_of
from services.privacy import CANCELLED_TEXT, CONFIRM_TEXT, done_sentence

if TYPE_CHECKING:
    from bot.bot import Dropbell

NOT_YOURS = "These buttons belong to someone else's /privacy forget; run /privacy forget yourself."


def _own(interaction: discord.Interaction[Any], button: PersistentButton) -> None:
    # The prompt is ephemeral, but a custom_id can be replayed by anyone: check who presses.
    if button.number("user_id") != interaction.user.id:
        raise errors.UserError(NOT_YOURS)


class ForgetButton(PersistentButton, custom_id="dropbell:forget:{user_id}"):
    label = "Delete my data"
    style = discord.ButtonStyle.danger

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        _own(interaction, self)
        forgotten = await services_of(interaction).privacy.forget(
            guild_id_of(interaction), interaction.user.id
        )
        await interaction.response.edit_message(content=done_sentence(forgotten), view=None)


class KeepButton(PersistentButton, custom_id="dropbell:keep:{user_id}"):
    label = "Cancel"

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        _own(interaction, self)
        await interaction.response.edit_message(content=CANCELLED_TEXT, view=None)


DYNAMIC_ITEMS = (ForgetButton, KeepButton)


@app_commands.guild_only()
class Privacy(commands.GroupCog, group_name="privacy", group_description="Your data in dropbell"):
    @app_commands.command(name="export", description="Everything dropbell keeps about you here")
    async def export(self, interaction: discord.Interaction[Dropbell]) -> None:
        guild_id = guild_id_of(interaction)
        data = await services_of(interaction).privacy.export(guild_id, interaction.user.id)
        if len(data) > interaction.filesize_limit:
            # Discord refuses the whole answer (413); say so rather than fail.
            raise errors.UserError(
                "Your data is larger than Discord lets me attach in this server; ask the "
                "bot's operator for it."
            )
        await interaction.response.send_message(
            "Everything dropbell keeps about you in this server:",
            file=discord.File(io.BytesIO(data), filename=f"dropbell-data-{guild_id}.json"),
            ephemeral=True,
        )

    @app_commands.command(name="forget", description="Delete everything dropbell keeps about you")
    async def forget(self, interaction: discord.Interaction[Dropbell]) -> None:
        guild_id_of(interaction)
        user_id = interaction.user.id
        await interaction.response.send_message(
            CONFIRM_TEXT,
            view=view_of(ForgetButton(user_id=user_id), KeepButton(user_id=user_id)),
            ephemeral=True,
        )


async def setup(bot: Dropbell) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Privacy())


async def teardown(bot: Dropbell) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
