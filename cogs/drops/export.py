"""``/drop export``: the waitlist and its claims as CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from services.dropday.export import ExportRow

EXPORT_HEADER = (
    "place",
    "user_id",
    "display_name",
    "joined_at_utc",
    "reminder_opt_in",
    "claim_status",
    "claimed_at_utc",
    "order_ref",
    "paid_at_utc",
)
# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# ("CSV injection"); display names are chosen by fans, so such a cell gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def drop_csv(rows: Iterable[ExportRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        claim = row.claim
        writer.writerow(
            (
                row.place if row.place is not None else "",
                row.user_id,
                spreadsheet_safe(row.display_name),
                _utc(row.joined_at),
                "yes" if row.reminders else "no",
                claim.state if claim else "",
                _utc(claim.claimed_at) if claim else "",
                spreadsheet_safe(claim.order_ref or "") if claim else "",
                _utc(claim.paid_at) if claim else "",
            )
        )
    return buffer.getvalue().encode("utf-8")
