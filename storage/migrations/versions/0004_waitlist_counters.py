"""Places in line without counting the line: per-drop counters, a join sequence, departures.

A fan's place is their join sequence number minus the departures before it, and a new join is
always at the end: so a batch of joins never scans the waitlist (it was O(line) per batch).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(
            sa.Column("waitlist_size", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("waitlist_seq", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), server_default="0", nullable=False))
    # Existing lines: sequence numbers in join order, then the drops' counters.
    op.execute(
        "UPDATE waitlist_entries SET seq = (SELECT count(*) FROM waitlist_entries AS e "
        "WHERE e.drop_id = waitlist_entries.drop_id AND e.id <= waitlist_entries.id)"
    )
    op.execute(
        "UPDATE drops SET "
        "waitlist_size = (SELECT count(*) FROM waitlist_entries AS e WHERE e.drop_id = drops.id), "
        "waitlist_seq = (SELECT coalesce(max(e.seq), 0) FROM waitlist_entries AS e "
        "WHERE e.drop_id = drops.id)"
    )
    op.create_table(
        "waitlist_departures",
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drop_id"],
            ["drops.id"],
            name=op.f("fk_waitlist_departures_drop_id_drops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("drop_id", "seq", name=op.f("pk_waitlist_departures")),
    )


def downgrade() -> None:
    op.drop_table("waitlist_departures")
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("waitlist_seq")
        batch.drop_column("waitlist_size")
