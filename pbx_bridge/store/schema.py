"""The store's one `metadata`; each room defines its tables on it in `<room>/tables.py`.

Primary keys make writes idempotent: the same call replayed updates its row, never adds one
(the writer reads each table's key from the table: store/registry.py key_columns).

Times are stored as UTC. Each row carries the `pbx` that recorded it, so several daemons can
share one PostgreSQL database without colliding.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s", "ix": "ix_%(table_name)s_%(column_0_name)s"})
