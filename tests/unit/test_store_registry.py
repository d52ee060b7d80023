"""The store's record registry: features register their record types; the store knows none of them."""

from dataclasses import dataclass

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects import sqlite

from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.rooms import record_kinds
from pbx_bridge.store.engine import async_engine
from pbx_bridge.store.registry import RecordKinds, UnregisteredRecord, key_columns
from pbx_bridge.calls.tables import calls, offers, outbound_calls
from pbx_bridge.nuisance.tables import nuisance_warnings
from pbx_bridge.store.writer import StoreWriter, last_per_key, upsert
from tests.conftest import make_call


@dataclass
class Parcel:
    depot: str
    parcel_id: str
    weight: int


parcels = Table("parcels", MetaData(), Column("depot", String(8), primary_key=True),
                Column("parcel_id", String(8), primary_key=True), Column("weight", Integer))


def test_a_record_type_registered_twice_is_refused():
    kinds = RecordKinds()
    kinds.register(CallRecord, calls)
    with pytest.raises(ValueError, match="CallRecord is already registered"):
        kinds.register(CallRecord, offers)
    assert kinds.table_of(CallRecord) is calls


def test_a_table_cannot_take_two_record_types():
    """The spool names a record by its table: two types behind one name could not be told apart."""
    kinds = RecordKinds()
    kinds.register(CallRecord, calls)
    with pytest.raises(ValueError, match="'calls' already takes records of CallRecord"):
        kinds.register(OfferRecord, calls)


def test_a_table_without_a_primary_key_is_refused():
    keyless = Table("keyless", MetaData(), Column("depot", String(8)), Column("parcel_id", String(8)),
                    Column("weight", Integer))
    with pytest.raises(ValueError, match="no primary key"):
        RecordKinds().register(Parcel, keyless)


async def test_the_writer_refuses_an_unregistered_record_type_with_a_clear_error(sqlite_url):
    kinds = RecordKinds()
    kinds.register(OfferRecord, offers)
    engine = async_engine(sqlite_url)
    writer = StoreWriter(engine, kinds=kinds)
    with pytest.raises(UnregisteredRecord, match=r"no table registered for record type .*CallRecord"):
        writer.put(make_call())
    assert not writer.pending and writer.accepted == 0
    await engine.dispose()


def test_the_key_is_read_from_the_table():
    assert key_columns(calls) == ("pbx", "uniqueid", "seq")
    assert key_columns(outbound_calls) == ("pbx", "call_id")
    assert key_columns(nuisance_warnings) == ("pbx", "call_uniqueid", "seq")
    assert key_columns(parcels) == ("depot", "parcel_id")
    rows = [{"depot": "a", "parcel_id": "1", "weight": 1}, {"depot": "a", "parcel_id": "2", "weight": 2},
            {"depot": "a", "parcel_id": "1", "weight": 3}]
    assert last_per_key(parcels, rows) == [{"depot": "a", "parcel_id": "1", "weight": 3},
                                           {"depot": "a", "parcel_id": "2", "weight": 2}]
    statement = str(upsert("sqlite", parcels).compile(dialect=sqlite.dialect()))
    assert "ON CONFLICT (depot, parcel_id) DO UPDATE SET weight = excluded.weight" in statement


def test_every_feature_registers_its_records_once_each_to_its_own_table():
    kinds = record_kinds()
    assert sorted(t.name for t in kinds.tables()) == sorted(
        ["calls", "offers", "outbound_calls", "vm_listenings", "vm_messages", "vm_callbacks", "agent_sessions",
         "agent_pauses", "nuisance_warnings", "nuisance_screened_calls", "incidents"])
    assert record_kinds() is not kinds  # nothing global: each caller gets its own


def test_a_record_type_known_by_its_table_name():
    kinds = RecordKinds()
    kinds.register(Parcel, parcels)
    assert kinds.name_of(Parcel) == "parcels"
    assert kinds.type_named("parcels") is Parcel
    assert kinds.fields_of(Parcel) == ("depot", "parcel_id", "weight")
    with pytest.raises(KeyError):
        kinds.type_named("calls")
