"""Bring a store's schema to the current revision (Alembic), before anything writes to it.

The store's own revisions are one line (0001..); a feature room may keep its tables' revisions
in `pbx_bridge/<room>/migrations/` as an Alembic branch of its own (`branch_labels=("<room>",)`,
`depends_on` a store revision): every such directory is found here, and every head is reached.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from pbx_bridge.store.engine import sync_engine

_PACKAGE = Path(__file__).resolve().parents[1]


def version_locations() -> list[str]:
    own = _PACKAGE / "store" / "migrations" / "versions"
    rooms = sorted(p for p in _PACKAGE.glob("*/migrations") if p.is_dir() and p.parent.name != "store")
    return [str(own), *(str(p) for p in rooms)]


def upgrade(url: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    cfg.set_main_option("version_path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations()))
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several daemons may start at once against one database: one migrates at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(7263528)"))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")
    finally:
        engine.dispose()
