"""``/drop export``: the waitlist as CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from storage.waitlists import WaitlistRow

EXPORT_HEADER = ("place", "user_id", "display_name", "joined_at_utc", "reminder_opt_in")
# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# ("CSV injection"); display names are chosen by fans, so such a cell gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def waitlist_csv(rows: Iterable[WaitlistRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.place,
                row.user_id,
                spreadsheet_safe(row.display_name),
                row.joined_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "yes" if row.reminders else "no",
            )
        )
    return buffer.getvalue().encode("utf-8")
