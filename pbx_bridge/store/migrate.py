"""Bring a store's schema to the head of every migration history (Alembic), before anything writes to it.

The store knows no feature: each room keeps its migrations in its own folder, and the caller
(pbx_bridge/rooms.py) hands their locations in. Alembic reads them all as one set of scripts: the
revisions that sites have already applied (0001..0008) form one chain across the rooms' folders,
and a new room adds its own branch (`branch_labels=("<room>",)`, `down_revision=None`,
`depends_on` the chain's head at the time), so the upgrade goes to every head, not one.
The store's own folder (`store/migrations/versions`, for tables the store itself would own) is
read too when it exists.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Iterable

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from pbx_bridge.store.engine import sync_engine

OWN = "pbx_bridge.store:migrations/versions"


def alembic_config(locations: Iterable[str]) -> AlembicConfig:
    """`locations`: Alembic version folders, as paths or `package:folder` resources."""
    own = [OWN] if files("pbx_bridge.store").joinpath("migrations", "versions").is_dir() else []
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "pbx_bridge.store:migrations")
    cfg.set_main_option("path_separator", "newline")  # a `package:folder` holds a colon
    cfg.set_main_option("version_locations", "\n".join([*own, *locations]).replace("%", "%%"))
    return cfg


def upgrade(url: str, locations: Iterable[str]) -> None:
    cfg = alembic_config(locations)
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
