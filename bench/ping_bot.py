"""A bare discord.py bot that only answers /ping: the floor every benchmark is compared with.

Run in its own process: ``python -m bench.ping_bot --api-base URL --gateway URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

import discord
from discord import app_commands

from bot.endpoints import loopback_connector, point_discord_at


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
