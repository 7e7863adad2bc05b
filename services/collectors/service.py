"""Collector tiers (managers), fans' profiles, and who counts as a collector on drop day."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.collectors import wording
from services.collectors.queue import RoleQueue
from services.errors import UserError
from services.localtime import utcnow
from storage.claims import ClaimRequest
from storage.collector_profiles import ProfileFacts, ProfileStore
from storage.collectors import CollectorStore, Tier, TierConflict
from storage.engine import Database
from storage.orders import COUNTED_OUTCOMES, Applied

log = logging.getLogger("dropbell.collectors")

MAX_TIER_NAME = 50
NOTHING: frozenset[int] = frozenset()


@dataclass(frozen=True)
class RoleFacts:
    """What the command saw of the role a manager picked, and of the bot in that server."""

    id: int
    is_everyone: bool
    managed: bool
    bot_can_manage_roles: bool
    below_bot: bool


@dataclass(frozen=True)
class TierSet:
    tier: Tier
    created: bool
    sentence: str


class CollectorService:
    def __init__(self, database: Database) -> None:
        self.store = CollectorStore(database)
        self.profiles = ProfileStore(database)
        self.queue = RoleQueue(self.store)
        # Enabled tier roles per server, for the collectors-first check on the claim hot path.
        self._tier_roles: dict[int, frozenset[int]] = {}
        self.queue.roles_changed = self._refresh
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        self._tier_roles = await self.store.enabled_tier_roles()

    async def order_applied(self, applied: Applied) -> None:
        """A purchase or refund queued role changes in its own transaction: work them now."""
        if applied.outcome in COUNTED_OUTCOMES:
            self.queue.poke()

    def announce_channel_set(self, guild_id: int) -> None:
        """The server has an announce channel now: notices owed to its managers go out (off
        the /dropbell setup answer)."""
        task = asyncio.create_task(self._tell_owed(guild_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell_owed(self, guild_id: int) -> None:
        try:
            await self.queue.tell_owed(guild_id)
        except Exception:
            log.exception("telling guild %s's managers their owed notices failed", guild_id)

    def is_collector(self, request: ClaimRequest) -> bool:
        """Whether the fan holds the role of an enabled tier of the server (sync and cheap: it
        runs inside the claim transaction)."""
        roles = self._tier_roles.get(request.guild_id, NOTHING)
        return bool(roles) and not roles.isdisjoint(request.facts.role_ids)

    def tier_roles(self, guild_id: int) -> frozenset[int]:
        """The enabled tier roles the collectors-first check sees for this server."""
        return self._tier_roles.get(guild_id, NOTHING)

    async def _refresh(self, guild_id: int) -> None:
        tiers = await self.store.tiers(guild_id)
        self._tier_roles[guild_id] = frozenset(t.role_id for t in tiers if t.enabled)
        self.queue.poke()

    # -- managers ---------------------------------------------------------------------------
    async def set_tier(
        self, guild_id: int, by: int, name: str, role: RoleFacts, min_purchases: int
    ) -> TierSet:
        cleaned = " ".join(name.split())
        if not cleaned or len(cleaned) > MAX_TIER_NAME:
            raise UserError(
                f"Give the tier a name of 1 to {MAX_TIER_NAME} characters, such as Gold."
            )
        if min_purchases < 1:
            raise UserError("min_purchases must be at least 1: a tier is earned by buying.")
        if role.is_everyone:
            raise UserError(
                "@everyone cannot be a tier's role: pick a role fans earn, such as Gold."
            )
        if role.managed:
            raise UserError(
                f"{wording.role_mention(role.id)} belongs to an integration or a bot, so nobody "
                "can hand it out: pick or create a plain role for the tier."
            )
        existing = {t.name.casefold(): t for t in await self.store.tiers(guild_id)}
        result = await self.store.set_tier(guild_id, cleaned, role.id, min_purchases, by, utcnow())
        if isinstance(result, TierConflict):
            other = result.other
            if result.role_taken:
                raise UserError(
                    f"{wording.role_mention(role.id)} is already the role of the tier "
                    f"**{other.name}**: pick another role, or change that tier."
                )
            raise UserError(
                f"The tier **{other.name}** already starts at {min_purchases}: give this tier "
                "another number of purchases."
            )
        tier, queued = result
        await self._refresh(guild_id)
        sentence = wording.tier_set_sentence(tier, cleaned.casefold() not in existing, queued)
        problem = wording.unmanageable_sentence(
            role.id, can_manage_roles=role.bot_can_manage_roles, below_bot=role.below_bot
        )
        if problem:
            sentence += "\n" + problem
        else:
            await self.store.retry_refused(guild_id, role.id, utcnow())
            self.queue.poke()
        return TierSet(tier, cleaned.casefold() not in existing, sentence)

    async def remove_tier(self, guild_id: int, name: str) -> str:
        removed = await self.store.remove_tier(guild_id, name, utcnow())
        if removed is None:
            raise UserError(f"There is no tier called **{name}**; /collector tiers lists them.")
        await self._refresh(guild_id)
        return (
            f"Tier **{removed.name}** removed: its role {wording.role_mention(removed.role_id)} "
            "is being taken from fans who held it through the tier."
        )

    async def tiers(self, guild_id: int) -> list[Tier]:
        return await self.store.tiers(guild_id)

    async def tier_names(self, guild_id: int, typed: str) -> list[str]:
        typed = typed.casefold()
        return [t.name for t in await self.store.tiers(guild_id) if typed in t.name.casefold()]

    async def role_deleted(self, guild_id: int, role_id: int) -> None:
        """The role was deleted in Discord (the gateway said so, or Discord answered 10011)."""
        await self.queue.role_gone(guild_id, role_id)

    # -- fans -------------------------------------------------------------------------------
    async def profile(
        self, guild_id: int, viewer_id: int, member_id: int
    ) -> tuple[ProfileFacts, str]:
        """The profile and its text; another member's only if they made it public."""
        own = viewer_id == member_id
        if not own and not await self.profiles.is_public(guild_id, member_id):
            raise UserError(wording.private_sentence(member_id))
        facts = await self.profiles.facts(guild_id, member_id)
        tiers = await self.store.tiers(guild_id)
        return facts, wording.profile_text(facts, tiers, own=own)

    async def toggle_public(self, guild_id: int, user_id: int) -> tuple[ProfileFacts, str]:
        await self.profiles.toggle_public(guild_id, user_id, utcnow())
        return await self.profile(guild_id, user_id, user_id)
