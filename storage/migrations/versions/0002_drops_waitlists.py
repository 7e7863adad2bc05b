"""Drops, their waitlists and reminder opt-ins.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("name_key", sa.String(80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("allocation", sa.String(20), nullable=False),
        sa.Column("early_access_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("product", sa.String(200), nullable=True),
        sa.Column("required_role_id", sa.BigInteger(), nullable=True),
        sa.Column("min_account_age_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("min_member_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("ping_role_id", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drops")),
    )
    op.create_index(op.f("ix_drops_guild_id"), "drops", ["guild_id"])
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["drop_id"],
            ["drops.id"],
            name=op.f("fk_waitlist_entries_drop_id_drops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint("drop_id", "user_id", name="uq_waitlist_entries_drop_user"),
    )
    op.create_index("ix_waitlist_entries_drop_order", "waitlist_entries", ["drop_id", "id"])
    op.create_index("ix_waitlist_entries_guild_user", "waitlist_entries", ["guild_id", "user_id"])
    op.create_table(
        "reminder_optins",
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["drop_id"],
            ["drops.id"],
            name=op.f("fk_reminder_optins_drop_id_drops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("drop_id", "user_id", name=op.f("pk_reminder_optins")),
    )


def downgrade() -> None:
    op.drop_table("reminder_optins")
    op.drop_table("waitlist_entries")
    op.drop_table("drops")
