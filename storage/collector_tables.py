"""Tables of collectors, purchase follow-ups and privacy (migration 0007), on the same metadata
as :mod:`storage.tables`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storage.tables import UTCDateTime, metadata

# --- collectors, follow-ups, privacy (migration 0007) -----------------------------------------
# A server's collector tiers: a role for fans with at least ``min_purchases`` purchases. A tier
# whose role was deleted in Discord (or cannot be managed) is disabled with the reason.
collector_tiers = Table(
    "collector_tiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("name", String(50), nullable=False),
    Column("name_key", String(50), nullable=False),
    Column("role_id", BigInteger, nullable=False),
    Column("min_purchases", Integer, nullable=False),
    Column("disabled_reason", Text, nullable=True),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("guild_id", "name_key", name="uq_collector_tiers_guild_name"),
)

# A fan's standing in a server, recomputed in the transaction of every purchase and refund.
collector_profiles = Table(
    "collector_profiles",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("purchases", Integer, nullable=False, server_default="0"),
    Column("first_purchase_at", UTCDateTime(), nullable=True),
    # The tier whose role the fan should hold now (the highest reached), if any.
    Column(
        "tier_id",
        Integer,
        ForeignKey("collector_tiers.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # Whether other members may see this profile (the fan's own toggle).
    Column("public", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Role grants and removals owed to Discord, worked off the webhook's hot path at Discord's pace.
# pending -> done, or failed (with Discord's error code), or skipped (tier gone meanwhile).
role_changes = Table(
    "role_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("role_id", BigInteger, nullable=False),
    Column("action", String(8), nullable=False),  # grant | remove
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error_code", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_role_changes_state", "state", "id"),
    Index("ix_role_changes_guild_user", "guild_id", "user_id"),
)

# Notices a server's managers get once (a missing permission, a role out of reach): the key
# says which, and its row says it was already told.
manager_notices = Table(
    "manager_notices",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(100), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One thank-you DM per purchase (the claim's id is the key), to fans who opted in to reminders.
# pending -> sending -> sent, or unreachable, skipped, failed, uncertain (see storage/followups.py).
purchase_followups = Table(
    "purchase_followups",
    metadata,
    Column(
        "claim_id",
        Integer,
        ForeignKey("claims.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("guild_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),
    Column("next_drop_id", Integer, ForeignKey("drops.id", ondelete="SET NULL"), nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_purchase_followups_state", "state"),
)

# What forgotten fans (/privacy forget) leave behind per drop: counts only, so a drop's totals
# stay true after their rows are gone.
forgotten_counts = Table(
    "forgotten_counts",
    metadata,
    Column("drop_id", Integer, ForeignKey("drops.id", ondelete="CASCADE"), primary_key=True),
    Column("joined", Integer, nullable=False, server_default="0"),
    Column("claimed", Integer, nullable=False, server_default="0"),
    Column("paid", Integer, nullable=False, server_default="0"),
    Column("refunded", Integer, nullable=False, server_default="0"),
)
