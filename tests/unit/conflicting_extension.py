"""A test-only extension that clashes with cogs.drops: it defines its own ``/drop create``.

tests/unit/test_structure.py feeds it to the duplicate-command check to show the check fails.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class ConflictingDrop(commands.GroupCog, group_name="drop", group_description="Clashes"):
    @app_commands.command(name="create", description="Clashes with /drop create (tests only)")
    async def create(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("never registered next to cogs.drops")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ConflictingDrop())
