"""The reports room's own table.

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from pbx_bridge.store.schema import metadata

# The scheduler's record of report slots it ran (migration 0003), so missed runs are made up.
report_runs = Table(
    "report_runs",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("slot", String(40), primary_key=True),
    Column("pbx", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("detail", String(400)),
)
