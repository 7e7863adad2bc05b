"""Base pieces for persistent buttons so their errors take the one error path.

discord.py only logs an exception raised by a dynamic item; without this a fan would see
"This interaction failed" and no sentence.
"""

from __future__ import annotations

from typing import Any

import discord

from bot import errors


class RoutedButton:
    """Mixin for ``DynamicItem`` buttons: subclasses implement ``handle``, not ``callback``."""

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.handle(interaction)
        except Exception as error:
            await errors.report(interaction, error)
