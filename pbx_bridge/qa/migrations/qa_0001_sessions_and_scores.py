"""call monitoring: listens and scores (rules §4)

Revision ID: qa_0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "qa_0001"
down_revision = None
branch_labels = ("qa",)
depends_on = "0008"


def upgrade() -> None:
    op.create_table(
        "qa_sessions",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("call_uniqueid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("employee_no", sa.String(32), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("supervisor", sa.String(80), nullable=False),
        sa.Column("supervisor_endpoint", sa.String(160), nullable=False),
        sa.Column("spied_channel", sa.String(200), nullable=False),
        sa.Column("whisper", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("listened_s", sa.Float()),
        sa.PrimaryKeyConstraint("pbx", "session_id", name="pk_qa_sessions"),
    )
    op.create_index("ix_qa_sessions_started_at", "qa_sessions", ["started_at"])
    op.create_index("ix_qa_sessions_call_uniqueid", "qa_sessions", ["call_uniqueid"])
    op.create_table(
        "qa_scores",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("score_id", sa.String(40), nullable=False),
        sa.Column("call_uniqueid", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(40)),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(400), nullable=False),
        sa.Column("scored_by", sa.String(80), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "score_id", name="pk_qa_scores"),
    )
    op.create_index("ix_qa_scores_scored_at", "qa_scores", ["scored_at"])
    op.create_index("ix_qa_scores_call_uniqueid", "qa_scores", ["call_uniqueid"])


def downgrade() -> None:
    op.drop_table("qa_scores")
    op.drop_table("qa_sessions")
