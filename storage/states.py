"""Every status and kind the product stores, in one place.

They are ``StrEnum`` so they go into and come out of the database as the plain strings the
tables have always held ("scheduled", "pending", ...), and compare equal to those strings.
"""

from __future__ import annotations

from enum import StrEnum


class DropStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    CLOSED = "closed"
    CANCELLED = "cancelled"


# A drop is "open" (its waitlist takes joins, it can be edited) while scheduled or live.
OPEN_DROP_STATUSES = (DropStatus.SCHEDULED, DropStatus.LIVE)


class Allocation(StrEnum):
    WAITLIST_ORDER = "waitlist-order"
    RAFFLE = "raffle"
    COLLECTORS_FIRST = "collectors-first"


class SendKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    COUNTDOWN = "countdown"
    OPENING = "opening"
    REMINDER = "reminder"
    RAFFLE = "raffle"  # DMs with each opted-in entrant's draw result
    RESTOCK = "restock"  # DMs telling opted-in fans that units came back
    POLL_GOAL = "poll_goal"  # a poll reached its goal: one post, written with the commit
    POLL_CLOSE = "poll_close"  # a poll closes at closes_at and posts its results
    POLL_DROP = "poll_drop"  # DMs telling a poll's committed fans they are on its drop's line


# Sends that are DMs to each opted-in fan of a drop rather than one post.
DM_SEND_KINDS = (SendKind.REMINDER, SendKind.RAFFLE, SendKind.RESTOCK, SendKind.POLL_DROP)


class SendState(StrEnum):
    """A scheduled send: draft -> pending -> sending -> sent, or one of the ends below."""

    DRAFT = "draft"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    MISSED = "missed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class DeliveryState(StrEnum):
    """One reminder DM to one fan: pending -> sending -> sent, or one of the ends below."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


class Repeat(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class LinkState(StrEnum):
    """A pooled purchase link: issuing -> ready -> taken, or discarded (never handed out)."""

    ISSUING = "issuing"
    READY = "ready"
    TAKEN = "taken"
    DISCARDED = "discarded"


class ClaimState(StrEnum):
    """A fan's claim: held -> paid (-> refunded), or held -> expired (-> paid if stock allows)."""

    HELD = "held"
    EXPIRED = "expired"
    PAID = "paid"
    REFUNDED = "refunded"


class PollStatus(StrEnum):
    """A pre-order poll: open -> closed (once, by its schedule or /poll close)."""

    OPEN = "open"
    CLOSED = "closed"
