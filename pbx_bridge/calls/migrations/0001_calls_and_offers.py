"""calls and offers

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("caller_num", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(160), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("wait_s", sa.Float()),
        sa.Column("agent", sa.String(80)),
        sa.Column("interface", sa.String(160)),
        sa.Column("ring_s", sa.Float()),
        sa.Column("talk_s", sa.Float()),
        sa.Column("ended_by", sa.String(16)),
        sa.Column("hangup_cause", sa.String(16)),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "uniqueid", "seq", name="pk_calls"),
    )
    op.create_index("ix_calls_joined_at", "calls", ["joined_at"])
    op.create_table(
        "offers",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("agent", sa.String(80)),
        sa.Column("interface", sa.String(160), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ring_s", sa.Float()),
        sa.Column("rings", sa.Integer()),
        sa.Column("result", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "uniqueid", "offer_id", name="pk_offers"),
    )
    op.create_index("ix_offers_offered_at", "offers", ["offered_at"])
    op.create_index("ix_offers_agent", "offers", ["agent"])


def downgrade() -> None:
    op.drop_table("offers")
    op.drop_table("calls")
