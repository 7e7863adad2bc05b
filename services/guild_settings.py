"""Who counts as a manager in a server, and the per-server settings that decide it.

A manager has Manage Server (or Administrator) or the manager role from ``/dropbell setup``.
Discord's default permissions only hide commands; every manager command and button asks here
again on each call, so reads are cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.localtime import utcnow
from storage.engine import Database
from storage.guild_settings import GuildSettings, GuildSettingsStore


class GuildSettingsService:
    def __init__(self, database: Database) -> None:
        self.store = GuildSettingsStore(database)
        self._cache: dict[int, GuildSettings] = {}
        # Called with the server's id when its announce channel is set (managers may be owed
        # notices that had nowhere to go).
        self.channel_set: list[Callable[[int], None]] = []

    async def get(self, guild_id: int) -> GuildSettings:
        cached = self._cache.get(guild_id)
        if cached is None:
            cached = await self.store.get(guild_id) or GuildSettings(guild_id)
            self._cache[guild_id] = cached
        return cached

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
        await self.store.put(new, utcnow())
        self._cache[guild_id] = new
        if announce_channel_id is not None:
            for listener in self.channel_set:
                listener(guild_id)
        return new

    async def is_manager(
        self, guild_id: int, *, manages_server: bool, role_ids: Iterable[int]
    ) -> bool:
        if manages_server:
            return True
        settings = await self.get(guild_id)
        return settings.manager_role_id is not None and settings.manager_role_id in set(role_ids)
