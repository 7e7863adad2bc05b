"""A test-only extension with a manager-looking command that forgot the manager check: the
security walk (tests/e2e/test_security_managers.py) must catch it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Unchecked(commands.Cog):
    @app_commands.command(name="sneaky", description="Hidden from members, but not checked")
    @app_commands.default_permissions(manage_guild=True)
    async def sneaky(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await channel.send("a member should never have made me post this")
        await interaction.response.send_message("Posted.", ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Unchecked())
