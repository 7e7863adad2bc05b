"""Pre-order polls: polls, their options (with live counters), commitments, the tally history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("question", sa.String(200), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("goal_reached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "close_send_id", sa.Integer(), sa.ForeignKey("scheduled_sends.id"), nullable=True
        ),
        sa.Column(
            "drop_id", sa.Integer(), sa.ForeignKey("drops.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_polls_guild_id", "polls", ["guild_id"])
    op.create_table(
        "poll_options",
        sa.Column(
            "poll_id",
            sa.Integer(),
            sa.ForeignKey("polls.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(55), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=True),
        sa.Column("units", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fans", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "poll_commitments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "poll_id", sa.Integer(), sa.ForeignKey("polls.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("option_idx", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("poll_id", "option_idx", "user_id", name="uq_poll_commitments_fan"),
    )
    op.create_index("ix_poll_commitments_poll_user", "poll_commitments", ["poll_id", "user_id"])
    op.create_table(
        "poll_tally_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "poll_id", sa.Integer(), sa.ForeignKey("polls.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("option_idx", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
    )
    op.create_index("ix_poll_tally_history_poll", "poll_tally_history", ["poll_id", "id"])


def downgrade() -> None:
    op.drop_table("poll_tally_history")
    op.drop_table("poll_commitments")
    op.drop_table("poll_options")
    op.drop_index("ix_polls_guild_id", "polls")
    op.drop_table("polls")
