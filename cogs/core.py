"""``/dropbell about`` (proves the whole path in one command) and ``/dropbell setup``."""

from __future__ import annotations

import functools
import math
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import manager_only, services_of

if TYPE_CHECKING:
    from bot.bot import Dropbell


@functools.cache
def dropbell_version() -> str:
    # Cached: reading the package metadata parses files on disk, and was 38% of the time
    # /dropbell about took under load (bench/about_burst --profile).
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


class Core(commands.GroupCog, group_name="dropbell", group_description="About and set up dropbell"):
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

    @app_commands.command(name="setup", description="Set the announce channel and manager role")
    @app_commands.describe(
        announce_channel="Where drop announcements go by default",
        manager_role="Members with this role can manage drops, polls and announcements",
    )
    @app_commands.guild_only()
    @manager_only()
    async def setup_server(
        self,
        interaction: discord.Interaction[Dropbell],
        announce_channel: discord.TextChannel | None = None,
        manager_role: discord.Role | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        guild_settings = services_of(interaction).guild_settings
        changing = announce_channel is not None or manager_role is not None
        if changing:
            settings = await guild_settings.update(
                interaction.guild_id,
                announce_channel_id=announce_channel.id if announce_channel else None,
                manager_role_id=manager_role.id if manager_role else None,
            )
        else:
            settings = await guild_settings.get(interaction.guild_id)
        channel = (
            f"<#{settings.announce_channel_id}>" if settings.announce_channel_id else "not set"
        )
        role = f"<@&{settings.manager_role_id}>" if settings.manager_role_id else "not set"
        await interaction.response.send_message(
            f"{'Saved' if changing else 'Current settings'}. Announce channel: {channel}. "
            f"Manager role: {role} (members with Manage Server are always managers)."
            + ("" if changing else " Give an option to change one."),
            ephemeral=True,
        )


async def setup(bot: Dropbell) -> None:
    await bot.add_cog(Core(bot))
