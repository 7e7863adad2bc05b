"""What the bot did and what waits, for ``/metrics`` (Prometheus text) and the benchmarks.

Counters and histograms are bumped where things happen (an increment or an observe, nothing
else on the hot path). The gauges that need the database (queues, overdue sends, live drops)
are read by :class:`DatabaseGauges` only when ``/metrics`` is scraped: the web handler awaits
:meth:`DatabaseGauges.refresh`, then renders; no collector ever blocks the event loop on a query.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from services.localtime import utcnow
from storage.engine import Database
from storage.gauges import GaugeReadings, read_gauges

SCHEDULED_POSTS = Counter("dropbell_scheduled_posts", "Scheduled posts made", ["kind"])
REMINDER_DMS = Counter("dropbell_reminder_dms", "Reminder DMs by outcome", ["outcome"])
JOIN_BATCHES = Counter("dropbell_join_batches", "Group-commit transactions of waitlist joins")
JOINS = Counter("dropbell_joins", "Join presses answered, by outcome", ["outcome"])
ANNOUNCEMENT_EDITS = Counter("dropbell_announcement_edits", "Edits of drop announcements")
CLAIM_BATCHES = Counter("dropbell_claim_batches", "Group-commit transactions of claims")
CLAIMS = Counter("dropbell_claims", "Get my link presses answered, by outcome", ["outcome"])
WEBHOOKS = Counter(
    "dropbell_webhooks", "Shop webhook deliveries, by shop and outcome", ["shop", "outcome"]
)

INTERACTIONS = Counter(
    "dropbell_interactions",
    "Interactions handled, by kind, command (or button) and outcome (ok, refused, error)",
    ["kind", "command", "outcome"],
)
# Discord gives an interaction 3 seconds for its first response; most answer in milliseconds.
ANSWER_SECONDS = Histogram(
    "dropbell_answer_seconds",
    "From receiving an interaction to its first response, by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0),
)
SCHEDULER_LAG = Histogram(
    "dropbell_scheduler_lag_seconds",
    "From a scheduled send's due time to its post, by kind",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)

DM_QUEUE = Gauge("dropbell_dm_queue", "DMs waiting to be sent, by queue", ["queue"])
SCHEDULER_OVERDUE = Gauge(
    "dropbell_scheduler_overdue_seconds", "How long the oldest pending send is past its due time"
)
LIVE_DROP_STOCK = Gauge("dropbell_live_drop_stock", "A live drop's stock", ["drop_id"])
LIVE_DROP_REMAINING = Gauge(
    "dropbell_live_drop_remaining", "A live drop's units not yet held or sold", ["drop_id"]
)
LIVE_DROP_CLAIMS = Gauge(
    "dropbell_live_drop_claims", "A live drop's claims, by state", ["drop_id", "state"]
)


def scheduled_post(kind: str, due_at: datetime, posted_at: datetime) -> None:
    SCHEDULED_POSTS.labels(kind=kind).inc()
    SCHEDULER_LAG.labels(kind=kind).observe(max(0.0, (posted_at - due_at).total_seconds()))


class DatabaseGauges:
    """The gauges read from the database, refreshed once per scrape."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def refresh(self) -> None:
        show(await read_gauges(self.database, utcnow()))


def show(readings: GaugeReadings) -> None:
    """Set every database gauge at once (no await in here: a scrape never sees half)."""
    DM_QUEUE.labels(queue="reminders").set(readings.reminders_pending)
    DM_QUEUE.labels(queue="followups").set(readings.followups_pending)
    SCHEDULER_OVERDUE.set(readings.overdue_seconds)
    # Only live drops get series: a drop that closed since the last scrape disappears.
    for gauge in (LIVE_DROP_STOCK, LIVE_DROP_REMAINING, LIVE_DROP_CLAIMS):
        gauge.clear()
    for drop in readings.live_drops:
        drop_id = str(drop.id)
        LIVE_DROP_STOCK.labels(drop_id=drop_id).set(drop.stock)
        LIVE_DROP_REMAINING.labels(drop_id=drop_id).set(drop.remaining)
        for state, count in drop.claims.items():
            LIVE_DROP_CLAIMS.labels(drop_id=drop_id, state=state).set(count)
