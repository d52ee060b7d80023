"""Bring a store's schema to the current revision (Alembic), before anything writes to it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from pbx_bridge.store.engine import sync_engine


# Until the rooms' list (pbx_bridge/rooms.py) hands the locations in: the incidents room's branch.
ROOM_LOCATIONS = ("pbx_bridge.store:migrations/versions", "pbx_bridge.incidents:migrations")


def upgrade(url: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    cfg.set_main_option("path_separator", "newline")  # a `package:folder` holds a colon
    cfg.set_main_option("version_locations", "\n".join(ROOM_LOCATIONS))
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
