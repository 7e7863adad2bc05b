"""The role queue's Discord side: one role granted or removed through discord.py, and the
gateway telling us a role was deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import discord
from discord.ext import commands

from services.collectors.queue import RoleEditFailed
from storage.collectors import RoleChange

if TYPE_CHECKING:
    from bot.bot import Dropbell

REASON = "dropbell: collector tier"


class DiscordRoles:
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    async def apply(self, change: RoleChange) -> None:
        http = self.bot.http
        try:
            if change.action == "grant":
                await http.add_role(change.guild_id, change.user_id, change.role_id, reason=REASON)
            else:
                await http.remove_role(
                    change.guild_id, change.user_id, change.role_id, reason=REASON
                )
        except discord.HTTPException as error:
            # discord.py already waited out 429s; a 5xx may pass, a 4xx will not.
            raise RoleEditFailed(error.code or None, transient=error.status >= 500) from error
        except (aiohttp.ClientError, OSError) as error:
            raise RoleEditFailed(None, transient=True) from error


class CollectorRoles(commands.Cog):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        collectors = self.bot.services.collectors
        await collectors.load()
        # Pending rows from before a restart are taken up by the first round (of the leader).
        queue = collectors.queue
        queue.notify = self._tell_managers  # any process may see a role deleted

        async def start() -> None:
            queue.start(DiscordRoles(self.bot))

        async def sweep() -> None:
            queue.poke()

        await self.bot.services.leadership.take_on("roles", start, queue.stop, sweep)

    async def cog_unload(self) -> None:
        await self.bot.services.leadership.give_up("roles")

    async def _tell_managers(self, guild_id: int, text: str) -> bool:
        return await self.bot.services.schedule.tell(guild_id, text)

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        await self.bot.services.collectors.role_deleted(role.guild.id, role.id)
