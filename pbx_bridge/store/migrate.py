"""Bring a store's schema to the current revision (Alembic), before anything writes to it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from pbx_bridge.store.engine import sync_engine


def upgrade(url: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
