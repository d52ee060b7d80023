"""nuisance_warnings.recording: the warned call's recording, kept as evidence (rules §6)

Revision ID: nuisance_0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "nuisance_0001"
down_revision = None
branch_labels = ("nuisance",)
depends_on = "0008"


def upgrade() -> None:
    with op.batch_alter_table("nuisance_warnings") as batch:
        batch.add_column(sa.Column("recording", sa.String(400), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("nuisance_warnings") as batch:
        batch.drop_column("recording")
