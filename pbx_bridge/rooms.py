"""The house's rooms: the one list of features, and what the daemon and the CLI gather from them.

A room is a package `pbx_bridge/<room>/` whose `wiring.py` offers `enabled(cfg)` and `wire(core)`
(core.py says what it may plug in), and, if it writes records through the store writer,
`register_records(kinds)`. Its tables are in `<room>/tables.py` on the store's one `metadata`, its
Alembic migrations in `<room>/migrations/`. Adding a room adds one line to `ROOMS` below; nothing
else outside the room changes (docs/architecture.md, "Adding a feature").

Records and migrations are gathered from every room, enabled or not: a spool written while a room
was enabled must replay after it is switched off, the CLI reads every table, and the migrations
form one history that a site applies whole.
"""

from __future__ import annotations

import importlib
from importlib.resources import files
from types import ModuleType

from sqlalchemy import MetaData

from pbx_bridge.store import migrate
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.store.schema import metadata

# The feature rooms, wired in this order. The order is the order each event, record and AMI login
# reaches them; a room that uses another's shared part (core.live, core.outbound, core.rota) comes
# after it.
ROOMS = (
    "live",  # live state: MQTT, wallboard
    "calls",  # the agents' outbound calls and phone book
    "ring_twice",
    "rota",  # shared by voicemail and agents: the rota and the PIN gate
    "incidents",  # before agents: the gap's incident is open when the agents' recovery tells its repairs
    "voicemail",
    "agents",
    "nuisance",
    "callbacks",
    "reports",  # the scheduler
    "reconcile",  # queue_log
)


def wiring(room: str) -> ModuleType:
    return importlib.import_module(f"pbx_bridge.{room}.wiring")


def record_kinds() -> RecordKinds:
    """A registry holding every room's record types (a fresh one per call: nothing global)."""
    kinds = RecordKinds()
    for room in ROOMS:
        register = getattr(wiring(room), "register_records", None)
        if register is not None:
            register(kinds)
    return kinds


def migration_locations() -> list[str]:
    """Every room's Alembic version folder (`pbx_bridge.<room>:migrations`), in the rooms' order."""
    return [f"pbx_bridge.{room}:migrations" for room in ROOMS
            if files(f"pbx_bridge.{room}").joinpath("migrations").is_dir()]


def tables() -> MetaData:
    """The store's metadata holding every room's tables (`<room>/tables.py`, each imported here)."""
    for room in ROOMS:
        if files(f"pbx_bridge.{room}").joinpath("tables.py").is_file():
            importlib.import_module(f"pbx_bridge.{room}.tables")
    return metadata


def upgrade(url: str) -> None:
    """Bring the store to the head of every room's migrations, before anything writes to it."""
    migrate.upgrade(url, migration_locations())
