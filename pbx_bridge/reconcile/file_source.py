"""queue_log the file, read from a saved position whatever happened to the file meanwhile.

A position is the file's inode and a byte offset, with a fingerprint of the 64 bytes before the
offset so that a reused inode or a file rewritten in place is not mistaken for ours. On resuming:

- same inode, still holding our bytes: go on from the offset;
- inode changed (rotated, by Asterisk's `logger rotate` or logrotate's `create`): finish the old
  file where it now lives (`queue_log.0`, `.1`, `-20261123`, ...; compressed ones cannot be
  appended to and are not looked at), then any file rotated after it, then the new file from 0;
- truncated in place (logrotate `copytruncate`): finish the copy if one holds our bytes, then the
  file from 0; with no copy, from 0.

Only complete lines are consumed: a line Asterisk is still writing is read again next time. The
final line of a rotated file is taken as it is, since nothing will be added to it. The reading is
in chunks (`chunk_size`) handed back one at a time, so the event loop is never held for long.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import structlog

from pbx_bridge.reconcile import state
from pbx_bridge.reconcile.lines import QueueLogLine, parse_line

log = structlog.get_logger(__name__)

COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4", ".z", ".zip")
FINGERPRINT_BYTES = 64
# 256 KiB is about 4,000 lines: read, parsed and built in about 45 ms on the project's machine, the
# longest the event loop is held (1 MiB held it for 170 ms).
CHUNK_SIZE = 256 * 1024
MAX_LINE = 64 * 1024  # longer than any queue_log line: a run of bytes this long without \n is junk


@dataclass(frozen=True)
class FilePos:
    inode: int
    offset: int
    ordinal: int = 0  # files in the order this daemon read them, so positions compare across rotation
    fingerprint: str | None = None

    @property
    def order(self) -> tuple:
        return (self.ordinal, self.offset)


@dataclass
class Chunk:
    lines: list[QueueLogLine]
    malformed: int
    end: object  # the source's position after the last consumed line


def _fingerprint_of(data: bytes) -> str:
    return hashlib.sha1(data[-FINGERPRINT_BYTES:]).hexdigest()[:16]


def fingerprint(path: Path, offset: int) -> str | None:
    start = max(0, offset - FINGERPRINT_BYTES)
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(offset - start)
    except OSError:
        return None
    return _fingerprint_of(data) if len(data) == offset - start else None


class QueueLogFile:
    kind = "file"

    def __init__(self, path: Path, state_path: Path, chunk_size: int = CHUNK_SIZE) -> None:
        self.path, self.state_path, self.chunk_size = Path(path), Path(state_path), chunk_size
        self._inode: int | None = None
        self._ordinal = 0

    # --- position ----------------------------------------------------------------------------
    def load_state(self) -> FilePos | None:
        data = state.load(self.state_path)
        if not data or data.get("path") != str(self.path):
            return None  # first start, or a different file configured: from the start of the file
        try:
            return FilePos(int(data["inode"]), int(data["offset"]), 0, data.get("fingerprint"))
        except (KeyError, TypeError, ValueError):
            return None

    def save_state(self, pos: FilePos) -> None:
        mark = pos.fingerprint
        if mark is None:
            found = self._locate(pos.inode)
            mark = fingerprint(found, pos.offset) if found is not None else None
        state.save(self.state_path, {"path": str(self.path), "inode": pos.inode, "offset": pos.offset,
                                     "fingerprint": mark})

    def describe(self, pos: FilePos | None) -> dict:
        return {} if pos is None else {"inode": pos.inode, "offset": pos.offset}

    # --- planning ----------------------------------------------------------------------------
    def _siblings(self) -> list[tuple[Path, os.stat_result]]:
        """Rotated copies beside the file: queue_log.1, queue_log-20261123, ... (not compressed)."""
        base, found = self.path.name, []
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return []
        for name in names:
            if name == base or not name.startswith(base) or name[len(base)] not in ".-_":
                continue
            candidate = self.path.parent / name
            if name.lower().endswith(COMPRESSED) or candidate == self.state_path or name.endswith(".tmp"):
                continue
            try:
                info = candidate.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((candidate, info))
        return found

    def _locate(self, inode: int) -> Path | None:
        try:
            if os.stat(self.path).st_ino == inode:
                return self.path
        except OSError:
            pass
        return next((path for path, info in self._siblings() if info.st_ino == inode), None)

    @staticmethod
    def _holds(path: Path, info: os.stat_result, pos: FilePos) -> bool:
        if info.st_size < pos.offset:
            return False
        return pos.fingerprint is None or pos.offset == 0 or fingerprint(path, pos.offset) == pos.fingerprint

    def plan(self, pos: FilePos | None) -> list[tuple[Path, int, int]]:
        """The files to read, in order, as (path, inode, start offset)."""
        current = os.stat(self.path)  # FileNotFoundError / PermissionError: the caller reports it
        if pos is None:
            return [(self.path, current.st_ino, 0)]
        if pos.inode == current.st_ino and self._holds(self.path, current, pos):
            return [(self.path, current.st_ino, pos.offset)]
        siblings = self._siblings()
        old = next(((p, i) for p, i in siblings if i.st_ino == pos.inode and self._holds(p, i, pos)), None)
        if old is None and pos.fingerprint and pos.offset:  # a copy made by copytruncate holds our bytes?
            old = next(((p, i) for p, i in siblings if i.st_ino != current.st_ino and self._holds(p, i, pos)), None)
        if old is None:
            log.warning("queue_log_position_lost", path=str(self.path), inode=pos.inode, offset=pos.offset,
                        reason="truncated" if pos.inode == current.st_ino else "rotated file not found")
            return [(self.path, current.st_ino, 0)]
        old_path, old_info = old
        later = sorted((s for s in siblings if s[1].st_mtime_ns > old_info.st_mtime_ns
                        and s[1].st_ino not in (old_info.st_ino, current.st_ino)), key=lambda s: s[1].st_mtime_ns)
        log.info("queue_log_rotated", finishing=str(old_path), then=[str(p) for p, _ in later] + [str(self.path)])
        return ([(old_path, old_info.st_ino, pos.offset)] + [(p, i.st_ino, 0) for p, i in later]
                + [(self.path, current.st_ino, 0)])

    # --- reading -----------------------------------------------------------------------------
    async def read(self, start: FilePos | None) -> AsyncIterator[Chunk]:
        segments = self.plan(start)
        for index, (path, inode, offset) in enumerate(segments):
            if inode != self._inode:  # a file read after the previous one: positions in it sort later
                self._inode, self._ordinal = inode, self._ordinal + 1
            async for chunk in self._segment(path, inode, offset, self._ordinal, index < len(segments) - 1):
                yield chunk

    async def _segment(self, path: Path, inode: int, offset: int, ordinal: int,
                       finished: bool) -> AsyncIterator[Chunk]:
        # Plain blocking reads, on purpose: a local file, a chunk at a time with the loop given back
        # between chunks; no thread for it (see the module's docstring).
        with open(path, "rb") as handle:  # noqa: ASYNC230
            if os.fstat(handle.fileno()).st_ino != inode:
                return  # renamed between planning and opening: the next pass plans again
            handle.seek(offset)
            carry = b""
            while data := handle.read(self.chunk_size):
                buffer = carry + data
                cut = buffer.rfind(b"\n") + 1
                if cut == 0 and len(buffer) <= MAX_LINE:
                    carry = buffer
                    continue
                if cut == 0:  # no line end in sight: junk, skipped as one malformed line
                    offset += len(buffer)
                    carry = b""
                    yield Chunk([], 1, FilePos(inode, offset, ordinal))
                    continue
                carry = buffer[cut:]
                chunk = self._chunk(buffer[:cut], inode, offset, ordinal)
                offset += cut
                yield chunk
                await asyncio.sleep(0)
            if carry and finished:
                chunk = self._chunk(carry, inode, offset, ordinal)
                yield chunk

    @staticmethod
    def _chunk(data: bytes, inode: int, offset: int, ordinal: int) -> Chunk:
        """Complete lines (the last may lack its \\n only at the end of a rotated file)."""
        lines: list[QueueLogLine] = []
        malformed = 0
        at = offset
        pieces = data.split(b"\n")
        if not pieces[-1]:
            pieces.pop()
        for raw in pieces:
            start, at = at, at + len(raw) + 1
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            line = parse_line(text, FilePos(inode, start, ordinal))
            if line is None:
                malformed += 1
            else:
                lines.append(line)
        end = offset + len(data)
        mark = _fingerprint_of(data) if len(data) >= FINGERPRINT_BYTES else None
        return Chunk(lines, malformed, FilePos(inode, end, ordinal, mark))
