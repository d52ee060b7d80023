"""outbound calls placed by the agents' own phones (日呼出量)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_calls",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("endpoint", sa.String(160), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dial_status", sa.String(24), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "call_id", name="pk_outbound_calls"),
    )
    op.create_index("ix_outbound_calls_started_at", "outbound_calls", ["started_at"])


def downgrade() -> None:
    op.drop_table("outbound_calls")
