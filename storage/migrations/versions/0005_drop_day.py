"""Drop day: the link pool, claims, shop events, and the raffle's columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("raffle_seed", sa.String(64), nullable=True))
        batch.add_column(sa.Column("raffle_commitment", sa.String(64), nullable=True))
        batch.add_column(sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("claim_window", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("claim_round", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.add_column(sa.Column("draw_rank", sa.Integer(), nullable=True))
    op.create_table(
        "claim_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "drop_id", sa.Integer(), sa.ForeignKey("drops.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("shop", sa.String(64), nullable=False),
        sa.Column("claim_ref", sa.String(80), nullable=False),
        sa.Column("link_ref", sa.String(255), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("claim_ref", name="uq_claim_links_claim_ref"),
        sa.UniqueConstraint("shop", "link_ref", name="uq_claim_links_shop_link_ref"),
    )
    op.create_index("ix_claim_links_drop_state", "claim_links", ["drop_id", "state", "id"])
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "drop_id", sa.Integer(), sa.ForeignKey("drops.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("link_id", sa.Integer(), sa.ForeignKey("claim_links.id"), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("link_ended", sa.Integer(), server_default="0", nullable=False),
        sa.Column("order_ref", sa.String(255), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("drop_id", "user_id", name="uq_claims_drop_user"),
    )
    op.create_index("ix_claims_state_hold", "claims", ["state", "hold_until"])
    op.create_index("ix_claims_guild_user", "claims", ["guild_id", "user_id"])
    op.create_table(
        "shop_events",
        sa.Column("shop", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shop_events")
    op.drop_table("claims")
    op.drop_table("claim_links")
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.drop_column("draw_rank")
    with op.batch_alter_table("drops") as batch:
        for column in (
            "claim_round",
            "claim_window",
            "drawn_at",
            "raffle_commitment",
            "raffle_seed",
        ):
            batch.drop_column(column)
