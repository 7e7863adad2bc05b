"""Per-server settings: the announce channel and the manager role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from storage.engine import Database
from storage.records import Record
from storage.tables import guild_settings


@dataclass(frozen=True)
class GuildSettings(Record):
    guild_id: int
    announce_channel_id: int | None = None
    manager_role_id: int | None = None


class GuildSettingsStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, guild_id: int) -> GuildSettings | None:
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    select(guild_settings).where(guild_settings.c.guild_id == guild_id)
                )
            ).first()
        return GuildSettings.from_row(row) if row else None

    async def put(self, settings: GuildSettings, now: datetime) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                guild_settings.delete().where(guild_settings.c.guild_id == settings.guild_id)
            )
            await connection.execute(
                guild_settings.insert().values(
                    guild_id=settings.guild_id,
                    announce_channel_id=settings.announce_channel_id,
                    manager_role_id=settings.manager_role_id,
                    updated_at=now,
                )
            )
