"""``/insights [drop]`` (managers): a drop's funnel, retention, cohorts and pre-order interest
as an embed, three PNG charts and a CSV (definitions: docs/measures.md)."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import guild_id_of, manager_only, services_of
from cogs.drops.options import DropChoice, drop_autocomplete
from services.insights.chart import render_charts
from services.insights.export import insights_csv
from services.insights.wording import fields, title

if TYPE_CHECKING:
    from bot.bot import Dropbell

EMBED_COLOUR = 0x5865F2


class Insights(commands.Cog):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    @app_commands.command(name="insights", description="A drop's funnel, retention and cohorts")
    @app_commands.describe(drop="The drop (default: the latest drop that opened)")
    @app_commands.autocomplete(drop=drop_autocomplete)
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def insights(
        self, interaction: discord.Interaction[Dropbell], drop: DropChoice | None = None
    ) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await services_of(interaction).insights.report(guild_id, drop)
        # matplotlib is CPU work: off the event loop, so joins keep being answered meanwhile.
        charts = await asyncio.to_thread(render_charts, report)
        embed = discord.Embed(title=title(report), colour=EMBED_COLOUR)
        for name, value in fields(report):
            embed.add_field(name=name, value=value, inline=False)
        embed.set_footer(text="Definitions: docs/measures.md · CSV: one row per drop")
        stem = f"insights-{report.drop.id}"
        files = [
            discord.File(io.BytesIO(charts.funnel.png), filename=f"{stem}-funnel.png"),
            discord.File(io.BytesIO(charts.retention.png), filename=f"{stem}-retention.png"),
            discord.File(io.BytesIO(charts.cohorts.png), filename=f"{stem}-cohorts.png"),
            discord.File(io.BytesIO(insights_csv(report)), filename=f"{stem}.csv"),
        ]
        await interaction.followup.send(embed=embed, files=files, ephemeral=True)


async def setup(bot: Dropbell) -> None:
    await bot.add_cog(Insights(bot))
