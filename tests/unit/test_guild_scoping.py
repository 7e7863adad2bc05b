"""Every storage query that takes a drop, poll, send or claim id either filters by guild_id
or is listed here with why it is safe: a user's id reaches it only after the service resolved
it in the caller's server (drops.resolve/get, polls.resolve, to_drop.check: a foreign id is
"unknown" there, see tests/e2e/test_security_isolation.py), or it comes from the bot's own
rows (scheduled sends, claims, holds), or it acts only on the caller's own rows (user_id).
A new unscoped function fails this test until someone decides which it is."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.harness import REPO

ID_PARAMETERS = {"drop_id", "poll_id", "send_id", "claim_id", "option_idx", "tier_id"}

RESOLVED_IN_GUILD_FIRST = "the service resolved the drop or poll in the caller's server first"
OWN_ROWS = "the bot's own rows (scheduler, claims, holds, link pool), never a typed id"
USER_SCOPED = "only the calling fan's own rows (filtered by user_id)"
DM_LOOKUP = "looks up a drop's server for a DM press; the caller then acts in that server only"

UNSCOPED = {
    "claims.fan_standing": USER_SCOPED,
    "collector_counts.recount_after_order": OWN_ROWS,
    "drops.get_any": DM_LOOKUP,
    "drops.update": RESOLVED_IN_GUILD_FIRST,
    "drops.move_status": RESOLVED_IN_GUILD_FIRST,
    "drops.record_announcement": RESOLVED_IN_GUILD_FIRST,
    "drops.delete": RESOLVED_IN_GUILD_FIRST,
    **{f"followups.{name}": OWN_ROWS for name in ("marker_of", "state_of", "claim", "finish",
                                                   "release")},
    **{f"holds.{name}": OWN_ROWS for name in ("expire_one", "link_ended", "counts", "claim_of",
                                               "claims_of")},
    **{f"link_pool.{name}": OWN_ROWS for name in ("usable", "remaining", "holds_ending",
                                                   "reserve", "issuing", "discard_unused")},
    "polls.get_any": DM_LOOKUP,
    "polls.by_close_send": OWN_ROWS,
    **{f"polls.{name}": RESOLVED_IN_GUILD_FIRST for name in (
        "delete", "set_message", "options", "fan_commitments", "commitments",
        "history", "close", "take_and_prefill")},
    **{f"raffle.{name}": OWN_ROWS for name in ("draw", "widen", "entries")},
    "reminders.fan_out": OWN_ROWS,
    "reminders.stop_reminders": USER_SCOPED,
    **{f"schedule.{name}": OWN_ROWS for name in ("get", "transition", "transition_in", "claim",
                                                  "mark_sent", "sent_opening", "drop_rows")},
    "waitlists.remove": USER_SCOPED,
    "waitlists.count": RESOLVED_IN_GUILD_FIRST,
    "waitlists.line": RESOLVED_IN_GUILD_FIRST,
    "waitlists.is_waitlisted": USER_SCOPED,
    "waitlists.remove_reminder": USER_SCOPED,
}  # fmt: skip


def unscoped_functions() -> set[str]:
    found = set()
    for path in sorted((REPO / "storage").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = {a.arg for a in node.args.args + node.args.kwonlyargs}
            if node.name.startswith("_") or not names & ID_PARAMETERS or "guild_id" in names:
                continue
            found.add(f"{Path(path).stem}.{node.name}")
    return found


def test_every_unscoped_storage_query_is_accounted_for() -> None:
    found = unscoped_functions()
    assert found, "the sweep found nothing: it no longer reads storage/"
    assert sorted(found - UNSCOPED.keys()) == [], "filter by guild_id, or say here why it is safe"
    assert sorted(UNSCOPED.keys() - found) == [], "no longer unscoped: drop it from the list"
