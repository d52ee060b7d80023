"""calls and offers say where they came from: the AMI stream or Asterisk's queue_log

Reconciliation (issue 7) fills in calls that AMI did not deliver from queue_log. Those rows are
marked `queue_log`, so that they can be told apart (whole seconds, no caller name) and so that a
later, better account of the same call knows what it may replace. Existing rows are AMI's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("calls", "offers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="ami"))


def downgrade() -> None:
    for table in ("calls", "offers"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("source")
