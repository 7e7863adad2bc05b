"""The poll results CSV, in the contract's columns, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from storage.polls import Commitment, PollOption

RESULTS_HEADER = ("option", "price", "user_id", "display_name", "quantity", "committed_at_utc")
# A cell starting with one of these runs as a formula in Excel, LibreOffice and Sheets; names
# are chosen by fans (and options by managers), so such a cell gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _price(cents: int | None) -> str:
    return "" if cents is None else f"{cents // 100}.{cents % 100:02d}"


def results_csv(options: list[PollOption], commitments: list[Commitment]) -> bytes:
    """One row per standing commitment, by option, then in order of commitment."""
    by_idx = {option.idx: option for option in options}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULTS_HEADER)
    for commitment in commitments:
        option = by_idx[commitment.option_idx]
        writer.writerow(
            (
                spreadsheet_safe(option.name),
                _price(option.price_cents),
                commitment.user_id,
                spreadsheet_safe(commitment.display_name),
                commitment.quantity,
                _utc(commitment.committed_at),
            )
        )
    return buffer.getvalue().encode("utf-8")
