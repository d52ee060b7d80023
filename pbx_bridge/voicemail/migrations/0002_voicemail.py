"""voicemail duty: listenings, messages, callbacks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vm_listenings",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("listening_id", sa.String(120), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(80)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("messages_played", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "listening_id", name="pk_vm_listenings"),
    )
    op.create_index("ix_vm_listenings_scheduled_at", "vm_listenings", ["scheduled_at"])
    op.create_table(
        "vm_messages",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("msg_id", sa.String(80), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("mailbox", sa.String(80), nullable=False),
        sa.Column("caller_num", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(160), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_callback_at", sa.DateTime(timezone=True)),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
        sa.Column("handled_by", sa.String(80)),
        sa.PrimaryKeyConstraint("pbx", "msg_id", name="pk_vm_messages"),
    )
    op.create_index("ix_vm_messages_left_at", "vm_messages", ["left_at"])
    op.create_table(
        "vm_callbacks",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("callback_id", sa.String(120), nullable=False),
        sa.Column("msg_id", sa.String(80), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(80)),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dial_status", sa.String(24), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pbx", "callback_id", name="pk_vm_callbacks"),
    )


def downgrade() -> None:
    op.drop_table("vm_callbacks")
    op.drop_table("vm_messages")
    op.drop_table("vm_listenings")
