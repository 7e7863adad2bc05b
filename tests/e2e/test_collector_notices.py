"""Managers' notices about tier roles (missing Manage Roles, a role deleted) when the server has
no announce channel yet: nothing is recorded as told until it is delivered, and setting the
channel with /dropbell setup delivers what is owed, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.shop.server import SandboxShop
from tests.databases import query
from tests.e2e.drop_day_support import PRICE, start_drop_day_bot
from tests.e2e.test_collectors import (
    _queue_empty,
    announce_here,
    claim_links,
    notices,
    tier_set,
)
from tests.harness import Community, wait_for


@pytest.fixture
async def shop() -> AsyncIterator[SandboxShop]:
    async with SandboxShop() as running:
        running.catalog.add_product(PRICE, "Night Moth Tee", 3500, stock=50)
        yield running


async def test_notices_with_no_announce_channel_are_told_once_one_is_set(
    sandbox: Sandbox, community: Community, shop: SandboxShop, database_path: Path
) -> None:
    gid = community.guild.id  # invited without Manage Roles; no /dropbell setup yet
    bronze = sandbox.create_role(gid, "Bronze")
    silver = sandbox.create_role(gid, "Silver")
    first, second = community.fans[:2]
    runner, bot = await start_drop_day_bot(sandbox, shop, database_path, community)
    try:
        await tier_set(sandbox, community, "Bronze", bronze, 1)
        await tier_set(sandbox, community, "Silver", silver, 5)
        (links,) = await claim_links(sandbox, shop, bot, community, [first, second], 1)
        await shop.stripe.complete(links[first.id])
        await wait_for(lambda: _queue_empty(bot), what="the Bronze grant tried")
        await wait_for(
            lambda: sandbox.invalid_request_breakdown().get("403/50013") == 1, what="refusal"
        )
        sandbox.delete_role(gid, silver.id)
        await wait_for(lambda: _silver_disabled(sandbox, community), what="Silver disabled, untold")
        # Nowhere to tell them: nothing is recorded as told.
        assert query(database_path, "SELECT key FROM manager_notices") == []

        await announce_here(sandbox, community)
        await wait_for(
            lambda: (
                notices(sandbox, community, "Manage Roles") == 1
                and notices(sandbox, community, "was deleted") == 1
            ),
            what="both owed notices, once the announce channel is set",
        )
        # Recorded once posted (the post is seen here a moment before the row is written).
        await wait_for(
            lambda: (
                _told(database_path)
                == {f"roles:missing-permission:{bronze.id}", f"roles:deleted:{silver.id}"}
            ),
            what="both notices recorded as told",
        )
        # Told once: another refusal of the same role says nothing new.
        await shop.stripe.complete(links[second.id])
        await wait_for(
            lambda: sandbox.invalid_request_breakdown().get("403/50013") == 2, what="refusal"
        )
        await wait_for(lambda: _queue_empty(bot), what="the second grant tried")
        await announce_here(sandbox, community)  # setting it again tells nothing twice
        await sandbox.slash(community.manager, "dropbell about")  # a round trip after it
        assert notices(sandbox, community, "Manage Roles") == 1
        assert notices(sandbox, community, "was deleted") == 1
    finally:
        await runner.stop()


async def _silver_disabled(sb: Sandbox, community: Community) -> bool:
    listing = await sb.slash(community.manager, "collector tiers")
    return "disabled: its role was deleted" in listing.content


def _told(path: Path) -> set[str]:
    return {key for (key,) in query(path, "SELECT key FROM manager_notices")}
