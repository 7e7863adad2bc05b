"""A test-only extension whose command fails with the token in the exception, as a library
that echoes a request's Authorization header would: the error path must not pass it on."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Leaky(commands.Cog):
    @app_commands.command(name="leak", description="Fails quoting the token (tests only)")
    async def leak(self, interaction: discord.Interaction) -> None:
        token = interaction.client.http.token
        raise RuntimeError(f"request failed with headers {{'Authorization': 'Bot {token}'}}")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Leaky())
