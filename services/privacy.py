"""``/privacy``: a fan's own data in a server, exported as JSON or forgotten for good.

Forgetting keeps every total true: a drop's removed joins, claims, payments and refunds move into
``forgotten_counts``; an open line closes up behind the fan and an open poll's tally drops their
units (as a leave and a withdraw do); a closed poll keeps its final totals. A fan holding a
purchase link must wait until the hold ends or they pay: deleting a live claim would lose the
unit it holds, and a payment for it would match no claim.

``dm_channels`` and ``dm_unreachable`` are shared by every server the bot runs in. They are in
the export (marked as shared), and a forget removes them only when no other server still holds
rows about the fan: another server may still owe them a reminder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.errors import UserError
from services.events import DropEvents
from services.localtime import discord_timestamp, utcnow
from services.polls.service import PollService
from services.text import and_list, plural
from storage.engine import Database
from storage.privacy import FanData, Forgotten, LiveHold, PrivacyStore

# Fields never exported: internal bookkeeping that says nothing about the fan.
_INTERNAL = {"attempts", "link_ended"}

EXPORT_NOTE = (
    "Everything dropbell keeps about you in this server. 'shared_by_every_server' is kept once "
    "for every server this bot runs in (how to reach you by DM). Purchase links are left out: "
    "they are the shop's checkout pages and work for whoever holds them."
)


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _rows(rows: list[dict[str, Any]], drop_names: dict[int, str]) -> list[dict[str, Any]]:
    shown = []
    for row in rows:
        item = {key: _value(value) for key, value in row.items() if key not in _INTERNAL}
        if "drop_id" in item:
            item["drop_name"] = drop_names.get(item["drop_id"])
        shown.append(item)
    return shown


def export_document(data: FanData, guild_id: int, user_id: int, now: datetime) -> dict[str, Any]:
    return {
        "about": EXPORT_NOTE,
        "server_id": str(guild_id),
        "user_id": str(user_id),
        "exported_at": _value(now),
        "in_this_server": {
            table: _rows(rows, data.drop_names) for table, rows in data.rows.items()
        },
        "created_as_manager": data.created,
        "shared_by_every_server": {
            table: _rows(rows, data.drop_names) for table, rows in data.shared.items()
        },
    }


def export_json(document: dict[str, Any]) -> bytes:
    # Ids as numbers are exact in JSON, but JavaScript readers round 64-bit snowflakes: the
    # document's own ids stay numbers (they are the rows), the person's are strings above.
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def hold_sentence(hold: LiveHold) -> str:
    if hold.ending:
        return (
            f"Your purchase link for **{hold.drop_name}** is still being ended at the shop; "
            "try /privacy forget again in a minute."
        )
    return (
        f"You hold a purchase link for **{hold.drop_name}** until "
        f"{discord_timestamp(hold.hold_until, 't')} ({discord_timestamp(hold.hold_until, 'R')}); "
        "forget your data after that hold ends or after paying."
    )


def done_sentence(forgotten: Forgotten) -> str:
    parts = [f"Done: {plural(forgotten.total, 'row')} about you removed from this server"]
    if forgotten.roles_queued:
        parts.append(
            f"your collector roles are being removed ({plural(forgotten.roles_queued, 'role')})"
        )
    if forgotten.released:
        parts.append(
            f"{plural(forgotten.released, 'thing')} you created as a manager no longer name you"
        )
    sentence = and_list(parts) + "."
    if forgotten.dm_rows_kept:
        sentence += (
            " Your DM channel record stays while another server using this bot still knows you."
        )
    return sentence


CONFIRM_TEXT = (
    "This deletes everything dropbell keeps about you in this server: your waitlist places, "
    "claims, poll commitments, reminders and collector profile (purchases stay only as "
    "anonymous counts), and removes your collector roles. It cannot be undone."
)
CANCELLED_TEXT = "Nothing was deleted."


class PrivacyService:
    def __init__(
        self,
        database: Database,
        events: DropEvents,
        polls: PollService,
        roles_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = PrivacyStore(database)
        self.events = events
        self.polls = polls
        # Wakes the role queue: the removals queued in the forget's transaction go out now.
        self.roles_queued = roles_queued

    async def export(self, guild_id: int, user_id: int) -> bytes:
        data = await self.store.fan_data(guild_id, user_id)
        return export_json(export_document(data, guild_id, user_id, utcnow()))

    async def forget(self, guild_id: int, user_id: int) -> Forgotten:
        result = await self.store.forget(guild_id, user_id, utcnow())
        if isinstance(result, LiveHold):
            raise UserError(hold_sentence(result))
        for drop_id in result.open_drops_left:
            self.events.waitlist_changed(drop_id)  # the announcement's count follows
        self.polls.commitments_removed(result.open_polls_left)
        if result.roles_queued:
            self.roles_queued()
        return result
