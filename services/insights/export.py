"""The insights CSV: one row per drop of the server (cancelled left out), from the first up to
the drop asked about, with every measure of docs/measures.md."""

from __future__ import annotations

import csv
import io

from services.insights.rules import InsightsReport, repeat_rate, retention_rate
from services.polls.export import spreadsheet_safe
from storage.insights import DropMeasures

INSIGHTS_HEADER = (
    "drop_id",
    "drop",
    "starts_at_utc",
    "status",
    "joined",
    "pressed_get_my_link",
    "paid",
    "refunded",
    "forgotten_fans",
    "active_fans",
    "active_again_next_drop",
    "retention_to_next",
    "first_time_buyers",
    "bought_again",
    "repeat_rate",
    "median_days_to_second_purchase",
    "poll_goal",
    "poll_units_committed",
)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _days(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 86_400:.2f}"


def _optional(value: int | None) -> str:
    return "" if value is None else str(value)


def row_of(measures: DropMeasures) -> tuple[str | int, ...]:
    return (
        measures.drop_id,
        spreadsheet_safe(measures.name),
        measures.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        measures.status,
        measures.joined,
        measures.pressed,
        measures.paid,
        measures.refunded,
        measures.forgotten,
        measures.active,
        measures.retained if measures.next_drop_id is not None else "",
        _ratio(retention_rate(measures)),
        measures.cohort_size,
        measures.cohort_repeaters,
        _ratio(repeat_rate(measures)),
        _days(measures.cohort_median_seconds),
        _optional(measures.poll_goal),
        _optional(measures.poll_units),
    )


def insights_csv(report: InsightsReport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(INSIGHTS_HEADER)
    writer.writerows(row_of(measures) for measures in report.history)
    return buffer.getvalue().encode("utf-8")
