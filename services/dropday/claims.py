"""A fan presses Get my link: one unit and one pooled link, or one sentence saying why not.

Claims go through group commit (``services.batching``) like joins: one REST call per press
(the interaction response), answered only after the transaction holding the claim committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from services import metrics
from services.batching import GroupCommit
from services.drops.allocation import decide_claim
from services.drops.rules import Member
from services.errors import UserError
from services.localtime import utcnow
from storage.claims import (
    Claimed,
    ClaimRequest,
    NoLinkReady,
    SoldOut,
    write_claim_batch,
)
from storage.engine import Database

# Who holds a collector tier's role (services.collectors.service.CollectorService.is_collector):
# sync and cheap, it runs inside the claim transaction.
IsCollector = Callable[[ClaimRequest], bool]


def sold_out_sentence(error: SoldOut) -> str:
    drop, place = error.drop, error.standing.place
    rank = error.standing.draw_rank
    if drop.drawn_at is not None and rank is not None:
        return (
            f"**{drop.name}** is sold out right now. You are #{rank} in the raffle's draw "
            "order: units that come back (a hold that ends unpaid) pass on in that order."
        )
    where = (
        f"You are #{place} on its waitlist: if units come back (a restock, or a hold that "
        "ends unpaid), I'll let you know if you pressed Remind me."
        if place is not None
        else "Join its waitlist to hear about restocks."
    )
    return f"**{drop.name}** is sold out. {where}"


def no_link_sentence(error: NoLinkReady) -> str:
    return (
        f"The shop has not given me a purchase link for **{error.drop.name}** yet (it is slow "
        "or not answering); nothing was taken — press **Get my link** again in a minute."
    )


class ClaimService:
    def __init__(
        self,
        database: Database,
        hold: timedelta,
        on_claimed: Callable[[int], None],
        is_collector: IsCollector,
    ) -> None:
        self.database = database
        self.hold = hold
        self.on_claimed = on_claimed  # a drop's stock changed: refresh posts, top up links
        self._decide = decide_claim(is_collector)
        self._batches: GroupCommit[ClaimRequest, Claimed] = GroupCommit(
            self._write, "claims", on_batch=metrics.CLAIM_BATCHES.inc
        )

    async def _write(
        self, batch: list[ClaimRequest], wait: float | None
    ) -> list[Claimed | BaseException]:
        return await self.database.run_write(
            partial(write_claim_batch, batch, self._decide, self.hold, utcnow()), wait
        )

    async def claim(
        self, guild_id: int, drop_id: int, user_id: int, display_name: str, member: Member
    ) -> Claimed:
        try:
            claimed = await self._batches.submit(
                ClaimRequest(guild_id, drop_id, user_id, display_name, member)
            )
        except SoldOut as error:
            metrics.CLAIMS.labels(outcome="sold_out").inc()
            raise UserError(sold_out_sentence(error)) from None
        except NoLinkReady as error:
            metrics.CLAIMS.labels(outcome="no_link").inc()
            self.on_claimed(error.drop.id)  # the pool needs topping up
            raise UserError(no_link_sentence(error)) from None
        except UserError:
            metrics.CLAIMS.labels(outcome="refused").inc()
            raise
        metrics.CLAIMS.labels(outcome="again" if claimed.already else "claimed").inc()
        if not claimed.already:
            self.on_claimed(drop_id)
        return claimed

    async def idle(self) -> None:
        await self._batches.idle()
