"""A bare discord.py bot: the floors every benchmark is compared with.

It answers ``/ping`` (the command floor) and its own persistent button (the button floor: a
``DynamicItem`` pressed on a message shaped like dropbell's announcement, so discord.py parses
the same message and rebuilds the same kind of view as for a Join click).

Run in its own process: ``python -m bench.ping_bot --api-base URL --gateway URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
from typing import Any

import discord
from discord import app_commands

from bot.endpoints import loopback_connector, point_discord_at


class FloorButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"floor:(?P<action>\w+):(?P<id>\d+)"
):
    """A persistent button whose state is in its custom_id, answered with one ephemeral reply."""

    def __init__(self, action: str, item_id: int) -> None:
        super().__init__(discord.ui.Button(label=action, custom_id=f"floor:{action}:{item_id}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FloorButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pressed", ephemeral=True)


class PingBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            connector=loopback_connector(),
        )
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="ping", description="Answers pong")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FloorButton)
        await self.tree.sync()


async def run(api_base: str, gateway: str, token: str) -> None:
    point_discord_at(api_base, gateway)
    async with PingBot() as bot:
        await bot.start(token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", default="bench-token")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.api_base, args.gateway, args.token))


if __name__ == "__main__":
    main()
