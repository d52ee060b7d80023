"""Which table each kind of record goes to, filled by the features that own the records.

The store knows no feature: each feature registers its record types (`register_records(kinds)`
next to them), and the writer and the spool take the filled registry. One registry serves both,
so a record type cannot reach the database yet be refused by the spool during an outage.

The name a record is known by in the spool's JSON lines is its table's name: stable across
releases, unlike class paths, so a spool written by an older release replays. A record's key is
its table's primary key, read from the table itself, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from sqlalchemy import Table


class UnregisteredRecord(TypeError):
    """A record handed to the store whose type no feature registered: a wiring mistake."""


def key_columns(table: Table) -> tuple[str, ...]:
    """The names of the table's primary-key columns, in the table's order (upserts conflict on them)."""
    return tuple(column.name for column in table.primary_key.columns)


class RecordKinds:
    def __init__(self) -> None:
        self._table_of: dict[type, Table] = {}
        self._type_named: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}

    def register(self, record_type: type, table: Table) -> None:
        """Records of `record_type` are written to `table`; refused if either is already taken,
        the type is not a dataclass (the spool writes its fields) or the table has no key."""
        if record_type in self._table_of:
            raise ValueError(f"record type {record_type.__name__} is already registered "
                             f"(to table {self._table_of[record_type].name!r})")
        if table.name in self._type_named:
            raise ValueError(f"table {table.name!r} already takes records of {self._type_named[table.name].__name__}")
        if not is_dataclass(record_type):
            raise TypeError(f"record type {record_type.__name__} is not a dataclass")
        if not key_columns(table):
            raise ValueError(f"table {table.name!r} has no primary key: its writes could not be idempotent")
        self._table_of[record_type] = table
        self._type_named[table.name] = record_type
        self._fields[record_type] = tuple(f.name for f in fields(record_type))

    def table_of(self, record_type: type) -> Table:
        try:
            return self._table_of[record_type]
        except KeyError:
            raise UnregisteredRecord(f"no table registered for record type {record_type.__module__}."
                                     f"{record_type.__qualname__}: its feature must register it "
                                     "(register_records)") from None

    def name_of(self, record_type: type) -> str:
        """The record's name in the spool: its table's."""
        return self.table_of(record_type).name

    def type_named(self, name: str) -> type:
        """The record type of a spool line's name; KeyError if none (the spool skips such a line)."""
        return self._type_named[name]

    def fields_of(self, record_type: type) -> tuple[str, ...]:
        self.table_of(record_type)
        return self._fields[record_type]

    def __contains__(self, record_type: object) -> bool:
        return record_type in self._table_of

    def __len__(self) -> int:
        return len(self._table_of)

    def tables(self) -> list[Table]:
        return list(self._table_of.values())
