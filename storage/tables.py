"""dropbell's tables (SQLAlchemy Core). The schema itself is created only by Alembic migrations.

Every row that belongs to a Discord server carries its ``guild_id``; Discord ids are 64-bit
snowflakes, hence BigInteger.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database.

    SQLite has no time zone type and hands back naive values; storing UTC and re-attaching it
    on the way out keeps comparisons and ordering right everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("announce_channel_id", BigInteger, nullable=True),
    Column("manager_role_id", BigInteger, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

drops = Table(
    "drops",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False, index=True),
    Column("name", String(80), nullable=False),
    # Lower-cased name: names are unique among a server's open drops, case-insensitively.
    Column("name_key", String(80), nullable=False),
    Column("description", Text, nullable=True),
    Column("image_url", Text, nullable=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("stock", Integer, nullable=False),
    Column("remaining", Integer, nullable=False),
    Column("allocation", String(20), nullable=False),
    Column("early_access_minutes", Integer, nullable=False, server_default="0"),
    Column("product", String(200), nullable=True),
    Column("required_role_id", BigInteger, nullable=True),
    Column("min_account_age_days", Integer, nullable=False, server_default="0"),
    Column("min_member_days", Integer, nullable=False, server_default="0"),
    Column("channel_id", BigInteger, nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("ping_role_id", BigInteger, nullable=True),
    Column("event_id", BigInteger, nullable=True),
    # scheduled -> live -> closed, or cancelled; "open" below means scheduled or live.
    Column("status", String(16), nullable=False),
    # The line's counters, kept in the same transaction as every join and leave (0004): how
    # many wait now, and how many join sequence numbers were handed out.
    Column("waitlist_size", Integer, nullable=False, server_default="0"),
    Column("waitlist_seq", Integer, nullable=False, server_default="0"),
    # Raffles (0005): the secret seed (published at the draw), its sha256 (shown from the
    # start), when it was drawn, and how many places in draw order may claim so far.
    Column("raffle_seed", String(64), nullable=True),
    Column("raffle_commitment", String(64), nullable=True),
    Column("drawn_at", UTCDateTime(), nullable=True),
    Column("claim_window", Integer, nullable=False, server_default="0"),
    Column("claim_round", Integer, nullable=False, server_default="0"),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    # The id orders the line: it grows with every join, so a fan's place is the number of
    # current entries of the drop with an id up to theirs.
    Column("id", Integer, primary_key=True),
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), nullable=False),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=False),
    # 1, 2, 3 … in join order within the drop; a fan's place is this minus the departures
    # before it, so no query counts the line (0004).
    Column("seq", Integer, nullable=False, server_default="0"),
    # A raffle's draw order (1 = first winner), set at the draw (0005).
    Column("draw_rank", Integer, nullable=True),
    UniqueConstraint("drop_id", "user_id", name="uq_waitlist_entries_drop_user"),
    Index("ix_waitlist_entries_drop_order", "drop_id", "id"),
    Index("ix_waitlist_entries_guild_user", "guild_id", "user_id"),
)

# Who left a line, by sequence number: what a place subtracts (0004).
waitlist_departures = Table(
    "waitlist_departures",
    metadata,
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
)

reminder_optins = Table(
    "reminder_optins",
    metadata,
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- scheduled sends (migration 0003) ---------------------------------------------------------
# One row per post the bot must make at a time: the database is the schedule, the in-memory
# APScheduler only a cache of it. ``state`` moves pending -> sending -> sent (or missed,
# cancelled, failed, uncertain); "sending" is taken by a conditional UPDATE before posting.
scheduled_sends = Table(
    "scheduled_sends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    # announcement | countdown | opening | reminder
    Column("kind", String(16), nullable=False),
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), nullable=True),
    Column("channel_id", BigInteger, nullable=True),
    Column("due_at", UTCDateTime(), nullable=False),
    # Countdowns and reminders: how long before the drop opens (0 = at opening).
    Column("offset_seconds", Integer, nullable=False, server_default="0"),
    # Announcements: the text, and for repeats the wall-clock time in its zone.
    Column("message", Text, nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("wall_clock", String(16), nullable=True),
    Column("repeat", String(8), nullable=True),
    Column("state", String(12), nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_scheduled_sends_state_due", "state", "due_at"),
    Index("ix_scheduled_sends_drop", "drop_id"),
    Index("ix_scheduled_sends_guild_state", "guild_id", "state"),
)

# One row per reminder DM owed to one fan; unique per (send, fan) so a fan-out runs once.
reminder_deliveries = Table(
    "reminder_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "send_id", Integer, ForeignKey("scheduled_sends.id", ondelete="CASCADE"), nullable=False
    ),
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), nullable=False),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    # pending -> sending -> sent, or unreachable, skipped, failed, uncertain
    Column("state", String(12), nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("send_id", "user_id", name="uq_reminder_deliveries_send_user"),
    Index("ix_reminder_deliveries_state", "state"),
)

# The DM channel of a fan, so a second reminder costs one request instead of two.
dm_channels = Table(
    "dm_channels",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("channel_id", BigInteger, nullable=False),
)

# Fans whose DMs are closed (50007). Never tried again unless they opt in again afterwards.
dm_unreachable = Table(
    "dm_unreachable",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("code", Integer, nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

# --- drop day (migration 0005) ----------------------------------------------------------------
# Personal purchase links issued by a shop before they are needed (the pool), so a fan's click
# never waits on the shop. ``link_ref`` is the shop's own id (a Checkout Session, a discount
# code): an order comes back carrying it.
claim_links = Table(
    "claim_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("claim_ref", String(80), nullable=False),
    Column("link_ref", String(255), nullable=True),
    Column("url", Text, nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    # issuing -> ready -> taken, or ready -> discarded (unused at the end, or about to expire)
    Column("state", String(12), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("claim_ref", name="uq_claim_links_claim_ref"),
    UniqueConstraint("shop", "link_ref", name="uq_claim_links_shop_link_ref"),
    Index("ix_claim_links_drop_state", "drop_id", "state", "id"),
)

# One claim per fan per drop: the unique key makes a second press return the first claim.
claims = Table(
    "claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), nullable=False),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("link_id", Integer, ForeignKey("claim_links.id"), nullable=False),
    # held -> paid (-> refunded), or held -> expired (-> paid, if a unit was still free)
    Column("state", String(12), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("hold_until", UTCDateTime(), nullable=False),
    # The shop link still has to be ended after the hold (expire_link): done off the hot path.
    Column("link_ended", Integer, nullable=False, server_default="0"),
    Column("order_ref", String(255), nullable=True),
    Column("paid_at", UTCDateTime(), nullable=True),
    Column("refunded_at", UTCDateTime(), nullable=True),
    UniqueConstraint("drop_id", "user_id", name="uq_claims_drop_user"),
    Index("ix_claims_state_hold", "state", "hold_until"),
    Index("ix_claims_guild_user", "guild_id", "user_id"),
)

# Every verified webhook delivery, once: a retried delivery finds its row and changes nothing.
shop_events = Table(
    "shop_events",
    metadata,
    Column("shop", String(64), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    # what dropbell did with it: paid, late-paid, late-unpaid, refunded, expired, restocked,
    # unmatched, ignored
    Column("outcome", String(16), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)

# --- pre-order polls (migration 0006) ---------------------------------------------------------
# A poll counts committed units per option; ``units`` and ``fans`` on each option are kept in
# the same transaction as every commitment, so the post and the goal never count rows.
polls = Table(
    "polls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False, index=True),
    Column("question", String(200), nullable=False),
    Column("goal", Integer, nullable=False),
    Column("closes_at", UTCDateTime(), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=True),
    # open -> closed (by its scheduled send or /poll close: one conditional UPDATE)
    Column("status", String(12), nullable=False),
    # Set once, by the commit that reached the goal (a conditional UPDATE in its transaction).
    Column("goal_reached_at", UTCDateTime(), nullable=True),
    Column("close_send_id", Integer, ForeignKey("scheduled_sends.id"), nullable=True),
    # The drop made from this poll, once.
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="SET NULL"), nullable=True),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
)

poll_options = Table(
    "poll_options",
    metadata,
    Column("poll_id", Integer, ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("name", String(55), nullable=False),
    Column("price_cents", Integer, nullable=True),
    Column("units", Integer, nullable=False, server_default="0"),
    Column("fans", Integer, nullable=False, server_default="0"),
)

# One commitment per fan per option; a new quantity replaces it (the row, and so its id, stays:
# the id orders fans by first commitment).
poll_commitments = Table(
    "poll_commitments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("poll_id", Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False),
    Column("option_idx", Integer, nullable=False),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("committed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("poll_id", "option_idx", "user_id", name="uq_poll_commitments_fan"),
    Index("ix_poll_commitments_poll_user", "poll_id", "user_id"),
)

# Each option's total after every batch that changed it: the chart's series.
poll_tally_history = Table(
    "poll_tally_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("poll_id", Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False),
    Column("option_idx", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("units", Integer, nullable=False),
    Index("ix_poll_tally_history_poll", "poll_id", "id"),
)
