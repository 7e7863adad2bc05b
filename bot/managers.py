"""Who counts as a manager in a server, and the per-server settings that decide it.

A manager has Manage Server or the manager role from ``/dropbell setup``. Discord's default
permissions only hide commands; every manager command and button checks again on each call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from sqlalchemy import select

from bot.errors import NotManager
from bot.localtime import utcnow
from storage.engine import Database
from storage.tables import guild_settings


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    announce_channel_id: int | None = None
    manager_role_id: int | None = None


class GuildSettingsService:
    """Reads are cached: the manager check runs on every manager command."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[int, GuildSettings] = {}

    async def get(self, guild_id: int) -> GuildSettings:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    select(guild_settings).where(guild_settings.c.guild_id == guild_id)
                )
            ).first()
        settings = (
            GuildSettings(guild_id, row.announce_channel_id, row.manager_role_id)
            if row
            else GuildSettings(guild_id)
        )
        self._cache[guild_id] = settings
        return settings

    async def update(
        self, guild_id: int, *, announce_channel_id: int | None, manager_role_id: int | None
    ) -> GuildSettings:
        """Set the given values; ``None`` keeps what was there."""
        current = await self.get(guild_id)
        new = GuildSettings(
            guild_id,
            announce_channel_id or current.announce_channel_id,
            manager_role_id or current.manager_role_id,
        )
        async with self.database.write() as connection:
            await connection.execute(
                guild_settings.delete().where(guild_settings.c.guild_id == guild_id)
            )
            await connection.execute(
                guild_settings.insert().values(
                    guild_id=guild_id,
                    announce_channel_id=new.announce_channel_id,
                    manager_role_id=new.manager_role_id,
                    updated_at=utcnow(),
                )
            )
        self._cache[guild_id] = new
        return new

    async def is_manager(self, member: discord.Member | discord.User) -> bool:
        if not isinstance(member, discord.Member):
            return False
        if member.guild_permissions.manage_guild or member.guild_permissions.administrator:
            return True
        settings = await self.get(member.guild.id)
        return settings.manager_role_id is not None and any(
            role.id == settings.manager_role_id for role in member.roles
        )


async def require_manager(interaction: discord.Interaction[Any]) -> bool:
    """An ``app_commands`` check: true for managers, NotManager (one sentence) otherwise."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    service: GuildSettingsService = interaction.client.guild_settings
    if not await service.is_manager(interaction.user):
        raise NotManager()
    return True


def manager_only() -> Any:
    return app_commands.check(require_manager)
