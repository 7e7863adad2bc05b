"""A test-only extension with a command that fails, to drive the real error path."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


async def failing_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    raise RuntimeError("kaboom: an autocomplete that never answers")


class Boom(commands.Cog):
    @app_commands.command(name="boom", description="Always fails (tests only)")
    async def boom(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("kaboom: this is the traceback the log must keep")

    @app_commands.command(name="boomchoice", description="Its autocomplete fails (tests only)")
    @app_commands.autocomplete(what=failing_autocomplete)
    async def boom_choice(self, interaction: discord.Interaction, what: str) -> None:
        await interaction.response.send_message(what, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Boom())
