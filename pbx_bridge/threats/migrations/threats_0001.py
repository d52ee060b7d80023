"""threats: the marked calls, who was told, acknowledgements, notes

Revision ID: threats_0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "threats_0001"
down_revision = None
branch_labels = ("threats",)
depends_on = "0008"


def upgrade() -> None:
    op.create_table(
        "threats",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("threat_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(160), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(160), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("agent_channel", sa.String(160), nullable=False),
        sa.Column("caller_channel", sa.String(160), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("company", sa.String(80), nullable=False),
        sa.Column("recording", sa.String(400), nullable=False),
        sa.Column("recording_source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("lead", sa.String(80), nullable=False),
        sa.Column("manager", sa.String(80), nullable=False),
        sa.Column("lead_told_at", sa.DateTime(timezone=True)),
        sa.Column("manager_told_at", sa.DateTime(timezone=True)),
        sa.Column("why_manager", sa.String(400), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "threat_id", name="pk_threats"),
    )
    op.create_index("ix_threats_marked_at", "threats", ["marked_at"])
    op.create_table(
        "threat_contacts",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("threat_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("endpoint", sa.String(160), nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        sa.Column("result", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "threat_id", "seq", name="pk_threat_contacts"),
    )
    op.create_table(
        "threat_acks",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("threat_id", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(80), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "threat_id", name="pk_threat_acks"),
    )
    op.create_table(
        "threat_notes",
        sa.Column("note_id", sa.String(40), nullable=False),
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("threat_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("note_id", name="pk_threat_notes"),
    )
    op.create_index("ix_threat_notes_threat", "threat_notes", ["pbx", "threat_id"])


def downgrade() -> None:
    for table in ("threat_notes", "threat_acks", "threat_contacts", "threats"):
        op.drop_table(table)
