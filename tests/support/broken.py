"""A test-only extension that cannot load: the rest of the bot must still start."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    raise ImportError("this extension is broken on purpose")
