"""Bring a store's schema to the current revision (Alembic), before anything writes to it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from pbx_bridge.store.engine import sync_engine


def upgrade(url: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several daemons may start at once against one database: one migrates at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(7263528)"))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
