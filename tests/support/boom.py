"""A test-only extension with a command that fails, to drive the real error path."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Boom(commands.Cog):
    @app_commands.command(name="boom", description="Always fails (tests only)")
    async def boom(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("kaboom: this is the traceback the log must keep")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Boom())
