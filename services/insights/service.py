"""/insights: the report of one drop, its charts and its CSV."""

from __future__ import annotations

from services.drops.service import DropService
from services.errors import UserError
from services.insights.rules import NO_OPENED_DROP, InsightsReport, build_report
from storage.engine import Database
from storage.insights import InsightsStore
from storage.preorder_interest import PreorderStore


class InsightsService:
    def __init__(self, database: Database, drops: DropService) -> None:
        self.store = InsightsStore(database)
        self.preorders = PreorderStore(database)
        self.drops = drops

    async def report(self, guild_id: int, typed: str | None = None) -> InsightsReport:
        """The drop a manager named (or the server's latest opened drop) and its measures."""
        if typed is None or not typed.strip():
            drop = await self.store.latest_opened(guild_id)
            if drop is None:
                raise UserError(NO_OPENED_DROP)
        else:
            drop = await self.drops.resolve(guild_id, typed)
        everything = await self.store.measures(guild_id)
        preorder = await self.preorders.preorder(guild_id, drop.id)
        return build_report(drop, everything, preorder)
