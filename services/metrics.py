"""Counters of what the bot did, for ``/metrics`` (Prometheus text) and the benchmarks."""

from __future__ import annotations

from prometheus_client import Counter

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
