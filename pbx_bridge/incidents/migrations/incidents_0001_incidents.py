"""incidents (rules §8) and people's notes on them

Revision ID: incidents_0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "incidents_0001"
down_revision = None
branch_labels = ("incidents",)
depends_on = "0008"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(40), nullable=False),
        sa.Column("nature", sa.String(40), nullable=False),
        sa.Column("place", sa.String(160), nullable=False),
        sa.Column("queue", sa.String(80)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("duration_s", sa.Float()),
        sa.Column("calls_waiting", sa.Integer(), nullable=False),
        sa.Column("calls_affected", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("recorded_late", sa.Integer(), nullable=False),
        sa.Column("agents_affected", sa.Integer(), nullable=False),
        sa.Column("agents", sa.Text(), nullable=False),
        sa.Column("trend", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "incident_id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    op.create_table(
        "incident_notes",
        sa.Column("note_id", sa.String(40), nullable=False),
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(40), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("note_id", name="pk_incident_notes"),
    )
    op.create_index("ix_incident_notes_incident", "incident_notes", ["pbx", "incident_id"])


def downgrade() -> None:
    op.drop_table("incident_notes")
    op.drop_table("incidents")
