"""Option helpers more than one feature uses (not an extension: the name starts with _)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from services import localtime


async def timezone_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=name, value=name) for name in localtime.suggest_zones(current)]
