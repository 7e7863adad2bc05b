"""Collectors: tiers, profiles, role changes, one-time notices, follow-ups, forgotten counts.

(Alembic logs the first paragraph as the revision's one-line message.) Collector tiers and
profiles, the role-change queue, managers' one-time notices, purchase follow-ups and the counts
forgotten fans leave behind.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector_tiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("name_key", sa.String(50), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.Column("min_purchases", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("guild_id", "name_key", name="uq_collector_tiers_guild_name"),
    )
    op.create_table(
        "collector_profiles",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("purchases", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_purchase_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "tier_id",
            sa.Integer(),
            sa.ForeignKey("collector_tiers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("public", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "role_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_role_changes_state", "role_changes", ["state", "id"])
    op.create_index("ix_role_changes_guild_user", "role_changes", ["guild_id", "user_id"])
    op.create_table(
        "manager_notices",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "purchase_followups",
        sa.Column(
            "claim_id",
            sa.Integer(),
            sa.ForeignKey("claims.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column(
            "next_drop_id",
            sa.Integer(),
            sa.ForeignKey("drops.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_purchase_followups_state", "purchase_followups", ["state"])
    op.create_table(
        "forgotten_counts",
        sa.Column(
            "drop_id",
            sa.Integer(),
            sa.ForeignKey("drops.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("joined", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("paid", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refunded", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("forgotten_counts")
    op.drop_index("ix_purchase_followups_state", "purchase_followups")
    op.drop_table("purchase_followups")
    op.drop_table("manager_notices")
    op.drop_index("ix_role_changes_guild_user", "role_changes")
    op.drop_index("ix_role_changes_state", "role_changes")
    op.drop_table("role_changes")
    op.drop_table("collector_profiles")
    op.drop_table("collector_tiers")
