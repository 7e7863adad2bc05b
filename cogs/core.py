"""``/dropbell about``: proves the whole path (gateway, tree, storage) in one command."""

from __future__ import annotations

import math
from importlib.metadata import PackageNotFoundError, version

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import Dropbell


def dropbell_version() -> str:
    try:
        return version("dropbell")
    except PackageNotFoundError:
        return "unknown (not installed)"


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) or "0s"


class Core(commands.GroupCog, group_name="dropbell", group_description="About dropbell"):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    @app_commands.command(name="about", description="Version, uptime, database and latency")
    async def about(self, interaction: discord.Interaction[Dropbell]) -> None:
        latency = self.bot.latency
        latency_text = "not measured yet" if math.isinf(latency) else f"{latency * 1000:.0f} ms"
        lines = [
            f"**dropbell** {dropbell_version()}",
            f"Uptime: {human_duration(self.bot.uptime_seconds)}",
            f"Database: {self.bot.database.kind}",
            f"Gateway latency: {latency_text}",
        ]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: Dropbell) -> None:
    await bot.add_cog(Core(bot))
