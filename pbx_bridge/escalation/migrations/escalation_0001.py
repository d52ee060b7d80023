"""escalation steps (rules §3: what the ladder did, when and why)

Revision ID: escalation_0001
Revises: (its own branch, after the store's 0008)
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "escalation_0001"
down_revision = None
branch_labels = ("escalation",)
depends_on = "0008"


def upgrade() -> None:
    op.create_table(
        "escalation_steps",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("action_id", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(40), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "action_id", name="pk_escalation_steps"),
    )
    op.create_index("ix_escalation_steps_at", "escalation_steps", ["at"])


def downgrade() -> None:
    op.drop_index("ix_escalation_steps_at", table_name="escalation_steps")
    op.drop_table("escalation_steps")
