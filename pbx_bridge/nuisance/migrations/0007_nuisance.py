"""nuisance calls: warnings (evidence), admins' screens and lifts, screened calls

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nuisance_warnings",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("call_uniqueid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(80), nullable=False),
        sa.Column("endpoint", sa.String(160), nullable=False),
        sa.Column("agent_channel", sa.String(160), nullable=False),
        sa.Column("caller_channel", sa.String(160), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "call_uniqueid", "seq", name="pk_nuisance_warnings"),
    )
    op.create_index("ix_nuisance_warnings_number", "nuisance_warnings", ["number"])
    op.create_index("ix_nuisance_warnings_warned_at", "nuisance_warnings", ["warned_at"])
    op.create_table(
        "nuisance_screens",
        sa.Column("screen_id", sa.String(40), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("screen_id", name="pk_nuisance_screens"),
    )
    op.create_index("ix_nuisance_screens_number", "nuisance_screens", ["number"])
    op.create_table(
        "nuisance_lifts",
        sa.Column("lift_id", sa.String(40), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("lifted_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("lift_id", name="pk_nuisance_lifts"),
    )
    op.create_index("ix_nuisance_lifts_number", "nuisance_lifts", ["number"])
    op.create_table(
        "nuisance_screened_calls",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("pbx", "uniqueid", name="pk_nuisance_screened_calls"),
    )
    op.create_index("ix_nuisance_screened_calls_screened_at", "nuisance_screened_calls", ["screened_at"])


def downgrade() -> None:
    op.drop_table("nuisance_screened_calls")
    op.drop_table("nuisance_lifts")
    op.drop_table("nuisance_screens")
    op.drop_table("nuisance_warnings")
