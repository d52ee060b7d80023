"""agent sessions and pauses (log-in time, pause time by reason)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("employee_no", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("endpoint", sa.String(160), nullable=False),
        sa.Column("interface", sa.String(200), nullable=False),
        sa.Column("queues", sa.String(400), nullable=False),
        sa.Column("login_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("logout_at", sa.DateTime(timezone=True)),
        sa.Column("logout_reason", sa.String(24)),
        sa.PrimaryKeyConstraint("pbx", "session_id", name="pk_agent_sessions"),
    )
    op.create_index("ix_agent_sessions_login_at", "agent_sessions", ["login_at"])
    op.create_table(
        "agent_pauses",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("pause_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("employee_no", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("pbx", "pause_id", name="pk_agent_pauses"),
    )
    op.create_index("ix_agent_pauses_started_at", "agent_pauses", ["started_at"])


def downgrade() -> None:
    op.drop_table("agent_pauses")
    op.drop_table("agent_sessions")
