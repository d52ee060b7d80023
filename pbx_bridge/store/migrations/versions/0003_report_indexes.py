"""reports: the scheduler's record of runs (catch-up after downtime, one run per slot across hosts)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("slot", sa.String(40), nullable=False),
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("detail", sa.String(400)),
        sa.PrimaryKeyConstraint("job", "slot", name="pk_report_runs"),
    )


def downgrade() -> None:
    op.drop_table("report_runs")
