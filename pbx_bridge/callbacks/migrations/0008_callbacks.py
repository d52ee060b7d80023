"""callback requests (virtual hold: the CALL BACK list)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(160), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer()),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("originates", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.String(40)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("next_try_at", sa.DateTime(timezone=True)),
        sa.Column("agent", sa.String(80)),
        sa.Column("result", sa.String(40)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_callback_requests"),
    )
    op.create_index("ux_callback_requests_call", "callback_requests", ["pbx", "uniqueid"], unique=True)
    op.create_index("ix_callback_requests_status", "callback_requests", ["status"])
    op.create_index("ix_callback_requests_requested_at", "callback_requests", ["requested_at"])


def downgrade() -> None:
    op.drop_table("callback_requests")
