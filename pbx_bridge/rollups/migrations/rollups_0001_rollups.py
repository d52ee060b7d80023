"""rollups: per local day sums of calls and offers for the reports (pbx_bridge/rollups/tables.py)

Also two indexes on calls for the repeat callers: a partial one on the unanswered calls, and one
by number. The tables start empty: the sums depend on the site's time zone and thresholds, which the
migration does not know. The daemon fills them for its pbx from the stored rows before its first
write (and again whenever those settings change); `pbx-bridge report rebuild-rollups` does it by
hand. Until then the reports read the raw rows.

Revision ID: rollups_0001
Revises:
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "rollups_0001"
down_revision = None
branch_labels = ("rollups",)
depends_on = "0008"


def _key(last: str) -> list:
    return [sa.Column("pbx", sa.String(64), nullable=False), sa.Column("day", sa.Date(), nullable=False),
            *([sa.Column("half", sa.Integer(), nullable=False)] if last == "half" else []),
            sa.Column("queue", sa.String(80), nullable=False),
            *([sa.Column("agent", sa.String(80), nullable=False)] if last == "agent" else [])]


def _ints(*names: str) -> list:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


# The repeat callers of a month (reports/kpi.py repeat_callers_query) read only the unanswered
# calls, from this index alone: a tenth of the month's rows, not all of them.
UNANSWERED = "outcome NOT IN ('answered', 'transferred')"


def upgrade() -> None:
    # and the answered calls of those few numbers: a seek per number, bounded to the month
    op.create_index("ix_calls_caller", "calls", ["caller_num", "joined_at", "outcome", "queue", "pbx"])
    op.create_index("ix_calls_unanswered", "calls", ["joined_at", "caller_num", "queue", "pbx", "outcome"],
                    sqlite_where=sa.text(UNANSWERED), postgresql_where=sa.text(UNANSWERED))
    op.create_table(
        "call_rollups", *_key("half"), *_ints("offered", "answered", "timely", "abandoned", "timeouts"),
        sa.Column("talk_sum", sa.Float(), nullable=False), *_ints("talk_n"),
        sa.PrimaryKeyConstraint("pbx", "day", "half", "queue", name="pk_call_rollups"),
    )
    op.create_table(
        "agent_rollups", *_key("agent"), *_ints("answered"), sa.Column("talk_sum", sa.Float(), nullable=False),
        *_ints("talk_n", "ended_by_agent"),
        sa.PrimaryKeyConstraint("pbx", "day", "queue", "agent", name="pk_agent_rollups"),
    )
    op.create_table(
        "offer_rollups", *_key("agent"), *_ints("offers", "answered", "within_two_rings", "rings", "missed"),
        sa.PrimaryKeyConstraint("pbx", "day", "queue", "agent", name="pk_offer_rollups"),
    )
    op.create_table(
        "caller_rollups",
        sa.Column("pbx", sa.String(64), nullable=False), sa.Column("day", sa.Date(), nullable=False),
        sa.Column("caller_num", sa.String(80), nullable=False), *_ints("unanswered"),
        sa.PrimaryKeyConstraint("pbx", "day", "caller_num", name="pk_caller_rollups"),
    )
    op.create_index("ix_caller_rollups_unanswered", "caller_rollups", ["unanswered", "day"])
    op.create_table(
        "rollup_state",
        sa.Column("pbx", sa.String(64), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("timely_threshold_s", sa.Float(), nullable=False),
        sa.Column("two_rings_limit_s", sa.Float(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pbx", name="pk_rollup_state"),
    )


def downgrade() -> None:
    op.drop_index("ix_calls_unanswered", "calls")
    op.drop_index("ix_calls_caller", "calls")
    op.drop_table("rollup_state")
    op.drop_table("caller_rollups")
    op.drop_table("offer_rollups")
    op.drop_table("agent_rollups")
    op.drop_table("call_rollups")
