"""reports: covering indexes for the KPI queries; the scheduler's record of runs

The monthly report scans a month of calls and offers. With an index holding every column its
queries read, SQLite and PostgreSQL answer from the index alone instead of looking each row up
(SQLite, 1M calls: 9.7 s -> 5.6 s; see bench/monthly_report.py). `report_runs` is where the
scheduler notes each report slot it ran, so a run missed while the daemon was down is made up.

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


CALLS_REPORT = ["joined_at", "queue", "outcome", "wait_s", "talk_s", "agent", "ended_by", "caller_num", "pbx"]
OFFERS_REPORT = ["offered_at", "result", "queue", "agent", "ring_s", "rings", "pbx"]


def upgrade() -> None:
    op.create_index("ix_calls_report", "calls", CALLS_REPORT)
    op.create_index("ix_offers_report", "offers", OFFERS_REPORT)
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
    op.drop_index("ix_offers_report", "offers")
    op.drop_index("ix_calls_report", "calls")
