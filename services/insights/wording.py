"""The insights embed's words: a title and (name, value) fields, each within Discord's limits."""

from __future__ import annotations

from datetime import datetime

from services.insights.rules import InsightsReport, rate, repeat_rate, retention_rate
from services.localtime import discord_timestamp
from services.text import plural, shorten
from storage.preorder_interest import MILESTONES, PreorderInterest

FIELD_LIMIT = 1024


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def span_text(seconds: float | None) -> str:
    """A median gap as a person reads it: days, or hours, or minutes when shorter."""
    if seconds is None:
        return "n/a"
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 2 * 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def title(report: InsightsReport) -> str:
    return shorten(f"📈 Insights: {report.drop.name}", 256)


def funnel_text(report: InsightsReport) -> str:
    m = report.measures
    lines = [
        f"Joined the waitlist: **{m.joined:,}**",
        f"Pressed Get my link: **{m.pressed:,}** ({percent(rate(m.pressed, m.joined))} of joined)",
        f"Paid: **{m.paid:,}** ({percent(rate(m.paid, m.pressed))} of pressed)",
    ]
    if m.refunded:
        lines.append(f"Refunded (not counted as paid): {m.refunded:,}")
    if m.forgotten:
        lines.append(f"Includes {m.forgotten:,} fans who asked to be forgotten.")
    return "\n".join(lines)


def retention_text(report: InsightsReport) -> str:
    m, previous, following = report.measures, report.previous, report.next_drop
    lines = [f"Active fans (joined, committed or bought): **{m.active:,}**"]
    if previous is not None:
        lines.append(
            f"From **{shorten(previous.name, 60)}**: {previous.retained:,} of "
            f"{previous.active:,} came back ({percent(retention_rate(previous))})"
        )
    if following is not None:
        lines.append(
            f"Into **{shorten(following.name, 60)}** so far: {m.retained:,} of {m.active:,} "
            f"({percent(retention_rate(m))})"
        )
    return "\n".join(lines)


def cohort_text(report: InsightsReport) -> str:
    m = report.measures
    if not m.cohort_size:
        return "Nobody made their first purchase in this drop."
    return (
        f"First-time buyers: **{m.cohort_size:,}**\n"
        f"Bought again in a later drop: **{m.cohort_repeaters:,}** "
        f"({percent(repeat_rate(m))})\n"
        f"Median time to the second purchase: **{span_text(m.cohort_median_seconds)}**"
    )


def _reached_text(created_at: datetime, reached: datetime | None, quarter: int) -> str:
    share = f"{quarter * 25} %"
    if reached is None:
        return f"{share}: not yet"
    after = span_text((reached - created_at).total_seconds())
    return f"{share}: {discord_timestamp(reached, 'f')} (after {after})"


def preorder_text(preorder: PreorderInterest) -> str:
    head = (
        f"**{shorten(preorder.question, 100)}** ({preorder.status}): {preorder.units:,} of "
        f"{preorder.goal:,} units ({percent(rate(preorder.units, preorder.goal))} of the goal)"
    )
    options = [
        f"{shorten(option.name, 55)}: {plural(option.units, 'unit')} from "
        f"{plural(option.fans, 'fan')}"
        for option in preorder.options
    ]
    milestones = "Goal reached over time — " + "; ".join(
        _reached_text(preorder.created_at, at, quarter)
        for quarter, at in zip(MILESTONES, preorder.reached, strict=True)
    )
    return shorten("\n".join([head, *options, milestones]), FIELD_LIMIT)


def fields(report: InsightsReport) -> list[tuple[str, str]]:
    shown = [
        ("Funnel: joined → pressed Get my link → paid", funnel_text(report)),
        ("Community retention (active re-engagers)", retention_text(report)),
        ("Repeat purchase cohort velocity", cohort_text(report)),
    ]
    if report.preorder is not None:
        shown.append(("Pre-order interest", preorder_text(report.preorder)))
    return [(name, shorten(value, FIELD_LIMIT)) for name, value in shown]
