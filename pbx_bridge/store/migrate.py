"""Bring a store's schema to the current revision (Alembic), before anything writes to it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from pbx_bridge.store.engine import sync_engine

ROOM_MIGRATIONS = ("escalation",)  # until the rooms' list (pbx_bridge/rooms.py) names them


def upgrade(url: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    # Rooms with tables of their own keep their migrations as Alembic branches (pbx_bridge/<room>/migrations).
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("version_locations", " ".join(
        ["pbx_bridge.store:migrations/versions", *(f"pbx_bridge.{room}:migrations" for room in ROOM_MIGRATIONS)]))
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
