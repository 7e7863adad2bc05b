"""The rows of ``/drop export``: the waitlist in order, each with its claim, then fans who
claimed without joining (empty place)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.claims import Claim
from storage.waitlists import WaitlistRow


@dataclass(frozen=True)
class ExportRow:
    place: int | None
    user_id: int
    display_name: str
    joined_at: datetime | None
    reminders: bool
    claim: Claim | None


def export_rows(line: Iterable[WaitlistRow], claims: Iterable[Claim]) -> list[ExportRow]:
    by_fan = {claim.user_id: claim for claim in claims}
    rows = [
        ExportRow(
            entry.place,
            entry.user_id,
            entry.display_name,
            entry.joined_at,
            entry.reminders,
            by_fan.pop(entry.user_id, None),
        )
        for entry in line
    ]
    rows.extend(
        ExportRow(None, claim.user_id, claim.display_name, None, False, claim)
        for claim in by_fan.values()
    )
    return rows
