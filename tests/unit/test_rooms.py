"""The rooms list (pbx_bridge/rooms.py): records, tables and migrations gathered from every room.

Sites have applied revisions 0001..0008 from the store's one versions folder; the same revisions now
live in the rooms that own their tables. A store at 0008 must upgrade without a step, a fresh one
must get every table, and a new room must be able to add its own branch of migrations.
"""

from __future__ import annotations

import importlib

import shutil
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from pbx_bridge import rooms
from pbx_bridge.store import migrate
from pbx_bridge.store.engine import sync_engine


# The rooms that came after 0008, each its own branch: their heads and tables.
BRANCH_HEADS = {"incidents_0001"}
BRANCH_TABLES = {"incidents", "incident_notes"}


def shape(url: str) -> tuple[dict, set[str]]:
    """Every table's columns and indexes, and the revisions the store is at."""
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            seen = inspect(conn)
            tables = {name: (sorted(c["name"] for c in seen.get_columns(name)),
                             sorted(i["name"] for i in seen.get_indexes(name)))
                      for name in seen.get_table_names()}
            heads = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()
    return tables, heads


def applied_heads() -> set[str]:
    """What alembic_version holds once every room is at its head: the heads of the scripts, less
    the revisions a room's branch depends on (Alembic counts those as applied through the branch)."""
    script = ScriptDirectory.from_config(migrate.alembic_config(rooms.migration_locations()))
    heads = set(script.get_heads())
    needed = set()
    for head in heads:
        depends = script.get_revision(head).dependencies or ()
        needed |= {depends} if isinstance(depends, str) else set(depends)
    return heads - needed


def old_layout(tmp_path: Path) -> str:
    """The single versions folder sites migrated from, with the same scripts."""
    folder = tmp_path / "versions"
    folder.mkdir()
    for location in rooms.migration_locations():
        package, sub = location.split(":")
        for script in Path(__import__(package, fromlist=["_"]).__file__).parent.joinpath(sub).glob("0*.py"):
            shutil.copy(script, folder)
    return str(folder)


def test_a_store_at_0008_from_the_one_versions_folder_upgrades_with_the_rooms_folders_unchanged(tmp_path):
    url = f"sqlite:///{tmp_path}/site.db"
    migrate.upgrade(url, [old_layout(tmp_path)])
    before = shape(url)
    assert before[1] == {"0008"}
    rooms.upgrade(url)
    after = shape(url)
    fresh = f"sqlite:///{tmp_path}/fresh.db"
    rooms.upgrade(fresh)
    assert after == shape(fresh), "the old store ends where a fresh one does"
    for name, (columns, indexes) in before[0].items():  # and keeps all it had
        assert set(columns) <= set(after[0][name][0]) and set(indexes) <= set(after[0][name][1]), name


def test_a_fresh_store_gets_every_rooms_tables(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.db"
    rooms.upgrade(url)
    tables, heads = shape(url)
    assert heads == applied_heads()
    assert set(tables) == set(rooms.tables().tables) | {"alembic_version"}
    assert len(rooms.tables().tables) >= 14


NEW_ROOM = '''
import sqlalchemy as sa
from alembic import op

revision = "demo_0001"
down_revision = None
branch_labels = ("demo",)
depends_on = "0008"


def upgrade() -> None:
    op.create_table("demo_things", sa.Column("pbx", sa.String(64), primary_key=True))
'''


NEXT_ON_THE_CHAIN = '''
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("note", sa.String(40)))
'''


def test_a_new_room_adds_its_migrations_as_its_own_branch_after_the_stores_head(tmp_path):
    room, later = tmp_path / "demo_migrations", tmp_path / "calls_later"
    room.mkdir()
    later.mkdir()
    (room / "demo_0001_things.py").write_text(NEW_ROOM)
    (later / "0009_note.py").write_text(NEXT_ON_THE_CHAIN)
    existing, fresh = f"sqlite:///{tmp_path}/site.db", f"sqlite:///{tmp_path}/fresh.db"
    rooms.upgrade(existing)
    for url in (existing, fresh):
        migrate.upgrade(url, [*rooms.migration_locations(), str(room)])
        tables, heads = shape(url)
        assert heads == applied_heads() | {"demo_0001"}  # 0008 is noted as applied through depends_on
        assert "demo_things" in tables and "callback_requests" in tables
        migrate.upgrade(url, [*rooms.migration_locations(), str(room)])  # again: nothing to do
        # a later revision on the main chain still applies beside the room's branch
        migrate.upgrade(url, [*rooms.migration_locations(), str(room), str(later)])
        tables, heads = shape(url)
        assert heads == applied_heads() | {"demo_0001", "0009"} and "note" in tables["calls"][0]


def test_every_room_that_writes_records_registers_them_through_its_wiring_enabled_or_not():
    kinds = rooms.record_kinds()
    writing = {room for room in rooms.ROOMS if hasattr(rooms.wiring(room), "register_records")}
    assert {"calls", "voicemail", "agents", "nuisance"} <= writing
    # each room registers only its own records, each to a table of its own tables.py
    for table in kinds.tables():
        record_type = kinds.type_named(table.name)
        room = record_type.__module__.split(".")[1]
        assert room in writing, f"{record_type.__qualname__} is registered by no wiring of its room {room!r}"
        own_tables = vars(importlib.import_module(f"pbx_bridge.{room}.tables")).values()
        assert any(value is table for value in own_tables), \
            f"table {table.name!r} of {record_type.__qualname__} is not in pbx_bridge/{room}/tables.py"
    assert {table.name for table in kinds.tables()} <= set(rooms.tables().tables)
