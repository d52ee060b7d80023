"""The disk tier behind the writer's bounded memory: records wait here while the database is away.

Append-only JSON lines in numbered segment files, oldest first. Only one segment is open for
appends at a time, and it is written and fsync'd once per batch of appends (the writer's tick),
not once per record, so a busy outage costs a few small synchronous writes per second on the
loop rather than a thread (the house style has none beside the loop). A segment is never
appended to by a later run, so a line torn by a crash stays the last line of its file, where it
is skipped with a warning.

Segments are bounded in records, because the writer reads a whole one back into memory to write
it; that bound is at most the writer's memory bound, so replaying never breaks it.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from pbx_bridge.store.registry import RecordKinds

log = structlog.get_logger(__name__)

# The kind written on each line is the record's table (RecordKinds.name_of): stable across
# releases, unlike class paths.
_DT = "$dt"
FIRST_SEQ = 1_000_000_000  # room below it: memory spilled at shutdown goes *before* older segments

Entry = tuple[float, object]
"""(wall-clock time the record was handed over, the record)."""


class SpoolError(Exception):
    """The spool directory cannot be used (not creatable, or another daemon holds it)."""


def encode(kinds: RecordKinds, at: float, record: object) -> bytes:
    """One line. Datetimes are tagged so they come back as datetimes with their UTC offset."""
    values = {}
    for name in kinds.fields_of(type(record)):
        value = getattr(record, name)
        values[name] = {_DT: value.isoformat()} if isinstance(value, datetime) else value
    line = json.dumps({"k": kinds.name_of(type(record)), "at": at, "r": values}, ensure_ascii=False,
                      separators=(",", ":"))
    return line.encode("utf-8") + b"\n"


def decode(kinds: RecordKinds, line: bytes) -> Entry:
    """The entry of one line; ValueError/KeyError/TypeError if the line is not one we wrote."""
    obj = json.loads(line)
    cls = kinds.type_named(obj["k"])
    raw = obj["r"]
    values = {}
    for name in kinds.fields_of(cls):
        if name in raw:  # a field added by a later release keeps its default
            value = raw[name]
            values[name] = datetime.fromisoformat(value[_DT]) if isinstance(value, dict) else value
    return float(obj["at"]), cls(**values)


@dataclass
class Segment:
    seq: int
    path: Path
    records: int = 0
    size: int = 0
    first_at: float | None = None
    loaded: bool = field(default=False)  # read back into the writer's memory, deleted once committed


class Spool:
    def __init__(self, directory: Path | str, kinds: RecordKinds, segment_records: int = 1000) -> None:
        self.dir = Path(directory)
        self.kinds = kinds
        self.segment_records = max(1, segment_records)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.dir / ".lock", "wb")  # noqa: SIM115 - held for the daemon's life
        except OSError as exc:
            raise SpoolError(f"{self.dir}: {exc.strerror}") from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SpoolError(f"{self.dir}: in use by another pbx-bridge (give each daemon its own spool_dir)") from None
        self.segments: list[Segment] = self._scan()
        self._on_disk = sum(s.records for s in self.segments)  # in segments not read back (put() asks often)
        self.buffer: list[Entry] = []
        self._tail: Segment | None = None  # the one segment open for appends (never one from a past run)
        self._file = None
        self.appended = 0
        self.skipped_lines = 0
        self.failing = False  # the disk refused the last sync (logged once, not every tick)

    # --- what is there ----------------------------------------------------------------------------

    def _scan(self) -> list[Segment]:
        for stale in self.dir.glob(".*.tmp"):  # a head rewrite that a crash interrupted; the original stands
            stale.unlink(missing_ok=True)
        found = []
        for path in self.dir.glob("*.jsonl"):
            try:
                seq = int(path.stem)
            except ValueError:
                continue
            segment = Segment(seq, path, size=path.stat().st_size)
            with open(path, "rb") as f:  # counted in chunks: a spool may be far larger than memory
                first = f.readline()
                segment.records = first.count(b"\n")
                while chunk := f.read(1 << 20):
                    segment.records += chunk.count(b"\n")
            try:
                segment.first_at = decode(self.kinds, first)[0] if first.endswith(b"\n") else None
            except (ValueError, KeyError, TypeError):
                segment.first_at = None
            found.append(segment)
        return sorted(found, key=lambda s: s.seq)

    @property
    def waiting(self) -> int:
        """Records on their way to the database through the spool, not yet read back."""
        return self._on_disk + len(self.buffer)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def empty(self) -> bool:
        return not self.segments and not self.buffer

    def oldest_at(self) -> float | None:
        for segment in self.segments:
            if not segment.loaded and segment.records and segment.first_at is not None:
                return segment.first_at
        return self.buffer[0][0] if self.buffer else None

    # --- writing ----------------------------------------------------------------------------------

    def append(self, at: float, record: object) -> None:
        """Queue one record behind the others; it reaches the disk at the next sync()."""
        self.buffer.append((at, record))

    def sync(self) -> bool:
        """Write the buffered records and fsync: one write and one fsync per segment touched.

        On a disk error the records stay buffered (in memory: nothing is dropped) and the next
        attempt starts a fresh segment, so a partly written line stays the last of its file.
        """
        if not self.buffer:
            return True
        done = 0
        try:
            while done < len(self.buffer):
                if self._tail is None or self._tail.records >= self.segment_records:
                    self._open_tail()
                room = self.segment_records - self._tail.records
                chunk = self.buffer[done:done + room]
                data = b"".join(encode(self.kinds, at, record) for at, record in chunk)
                self._file.write(data)
                self._file.flush()
                os.fsync(self._file.fileno())
                if self._tail.first_at is None:
                    self._tail.first_at = chunk[0][0]
                self._tail.records += len(chunk)
                self._tail.size += len(data)
                self._on_disk += len(chunk)
                done += len(chunk)
        except OSError as exc:
            if not self.failing:
                log.error("store_spool_write_failed", dir=str(self.dir), error=repr(exc)[:300],
                          buffered=len(self.buffer) - done)
            self.failing = True
            self._close_tail()
            del self.buffer[:done]
            return False
        if self.failing:
            log.warning("store_spool_write_recovered", dir=str(self.dir), records=done)
            self.failing = False
        self.appended += done
        self.buffer.clear()
        return True

    def _open_tail(self) -> None:
        self._close_tail()
        seq = self.segments[-1].seq + 1 if self.segments else FIRST_SEQ
        segment = Segment(seq, self.dir / f"{seq:016d}.jsonl")
        self._file = open(segment.path, "ab")  # noqa: SIM115 - kept open while it is the tail
        _fsync_dir(self.dir)
        self.segments.append(segment)
        self._tail = segment

    def _close_tail(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None
        self._tail = None

    def write_head(self, entries: list[Entry], replacing: Segment | None = None) -> None:
        """Put records that are older than every spooled one at the front (shutdown, database down).

        Written to a temporary file, fsync'd, then renamed into place, so a crash leaves either the
        old spool or the new one. `replacing` is a loaded segment whose remaining records lead
        `entries`: the file takes its place (and its number) instead of going in front of it.
        """
        if replacing is not None:
            seq = replacing.seq
        else:
            seq = min((s.seq for s in self.segments), default=FIRST_SEQ + 1) - 1
        path = self.dir / f"{seq:016d}.jsonl"
        tmp = self.dir / f".{seq:016d}.tmp"
        data = b"".join(encode(self.kinds, at, record) for at, record in entries)
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        if replacing is not None:
            self.segments.remove(replacing)
        self.segments.insert(0, Segment(seq, path, len(entries), len(data), entries[0][0] if entries else None))
        self._on_disk += len(entries)
        self.appended += len(entries)

    # --- reading back -----------------------------------------------------------------------------

    def load_oldest(self) -> tuple[Segment, list[Entry]] | None:
        """The oldest segment's records, in order; the segment stays on disk until `remove`."""
        segment = next((s for s in self.segments if not s.loaded), None)
        if segment is None:
            if not self.sync():  # the buffer is all there is: it must reach a segment first
                return None
            segment = next((s for s in self.segments if not s.loaded), None)
            if segment is None:
                return None
        if segment is self._tail:
            if not self.sync():
                return None
            self._close_tail()  # appends go to a new segment from now on: this one is read as it is
        entries = self._read(segment)
        segment.loaded = True
        self._on_disk -= segment.records
        return segment, entries

    def _read(self, segment: Segment) -> list[Entry]:
        data = segment.path.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()  # after the last newline: empty unless a crash cut a line short
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                entries.append(decode(self.kinds, line))
            except (ValueError, KeyError, TypeError) as exc:
                self.skipped_lines += 1
                log.error("store_spool_line_skipped", segment=segment.path.name, line=number, error=repr(exc)[:200])
        if torn:
            self.skipped_lines += 1
            log.warning("store_spool_torn_line_skipped", segment=segment.path.name, line=len(lines) + 1,
                        bytes=len(torn))
        return entries

    def remove(self, segment: Segment) -> None:
        """Delete a segment whose records are committed (a crash before this only rewrites rows)."""
        segment.path.unlink(missing_ok=True)
        self.segments.remove(segment)
        if not segment.loaded:
            self._on_disk -= segment.records

    def close(self) -> None:
        self._close_tail()
        self._lock.close()


def _fsync_dir(directory: Path) -> None:
    """A new or renamed file's name is only durable once its directory is."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
