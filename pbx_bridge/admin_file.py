"""An admin's file in force (the rota, the screening list, any later one), reloaded when it changes.

One behaviour for every such file, because the admins edit them all the same way, live:
- at start, `load()` raises the file's error (one line): the daemon exits 2, like a broken config;
- later, `reload()` (SIGHUP, or the watcher on a change) refuses a broken edit and keeps the version in
  force, with one warning naming the file and the line; the daemon never stops because of an edit;
- `watch()` polls from the event loop (no thread, no inotify) and compares the content's sha256, so a
  rewrite within one mtime tick is seen and a touch with the same bytes is not a change; a refused edit
  is not tried again until the file changes; a missing file is logged once and the version in force stays.
The file's size and nesting are bounded by `yaml_errors` (read_bytes, file_digest). Watching ends by
cancellation, like every task of the daemon.

This module knows no feature: a feature hands it its parse function and its error type.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable, Generic, TypeVar

import structlog

from pbx_bridge.yaml_errors import file_digest, read_bytes

log = structlog.get_logger(__name__)

T = TypeVar("T")


class AdminFile(Generic[T]):
    """The file's parsed content in force; `events` prefixes the log events (`rota` -> `rota_loaded`,
    `rota_reload_refused`, `rota_reloaded`, `rota_listener_failed`), `file_events` the watcher's
    (`rota_file` -> `rota_file_changed`, `rota_file_missing`); `noun` is what the refusal says stays."""

    def __init__(self, path: str, parse: Callable[[str, str], T], error: type[Exception], *,
                 summary: Callable[[T], str], events: str, noun: str, file_events: str | None = None,
                 on_change: Callable[[T], None] | None = None) -> None:
        self.path = str(path)
        self._parse = parse  # (path, text) -> T, or raises `error` (one line for the admin)
        self._error = error
        self._summary = summary
        self._events = events
        self._file_events = file_events or f"{events}_file"
        self._noun = noun
        self._value: T | None = None
        self._digest: bytes | None = None  # of the last content tried, loaded or refused
        self.version = 0  # bumped at each version put in force
        self._listeners: list[Callable[[T], None]] = [on_change] if on_change else []

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def subscribe(self, listener: Callable[[T], None]) -> None:
        """Called with the new content after each successful reload (not after the first load)."""
        self._listeners.append(listener)

    def _read(self) -> tuple[str, bytes]:
        raw = read_bytes(self.path, self._error)
        try:
            return raw.decode("utf-8"), hashlib.sha256(raw).digest()
        except UnicodeDecodeError as exc:
            raise self._error(f"{self.path}: not UTF-8 text: {exc.reason}") from exc

    def load(self) -> T:
        """At start: load or raise the file's error (one line)."""
        text, digest = self._read()
        self._digest = digest
        self._value = self._parse(self.path, text)
        self.version += 1
        log.info(f"{self._events}_loaded", path=self.path, summary=self._summary(self._value))
        return self._value

    def reload(self) -> tuple[bool, str]:
        """Read the file again; on any error keep the version in force. (ok, one line for the admin)."""
        try:
            try:
                text, self._digest = self._read()
            except self._error:
                self._digest = file_digest(self.path)  # refused (too large, ...): not again until it changes
                raise
            value = self._parse(self.path, text)
        except Exception as exc:  # noqa: BLE001 - whatever an edit does, the version in force stays
            kept = f"the previous {self._noun} stays in force" if self._value is not None else f"no {self._noun} in force"
            error = str(exc) if isinstance(exc, self._error) else f"{self.path}: cannot load: {exc!r}"
            log.warning(f"{self._events}_reload_refused", path=self.path, error=error, kept=kept)
            return False, f"{error} ({kept})"
        self._value = value
        self.version += 1
        log.info(f"{self._events}_reloaded", path=self.path, summary=self._summary(value), version=self.version)
        for listener in self._listeners:
            try:
                listener(value)
            except Exception:  # noqa: BLE001 - a listener's bug must not undo the reload
                log.exception(f"{self._events}_listener_failed")
        return True, f"ok: {self._summary(value)}"

    def changed(self) -> bool:
        """The content differs from the last one tried (a missing file is no change: the version stays)."""
        digest = file_digest(self.path)
        return digest is not None and digest != self._digest

    async def watch(self, interval: float = 2.0) -> None:
        """Until cancelled: every `interval` s, reload if the file's content changed."""
        missing = False
        while True:
            await asyncio.sleep(interval)
            digest = file_digest(self.path)
            if digest is None:
                if not missing:
                    log.warning(f"{self._file_events}_missing", path=self.path)
                missing = True
                continue
            missing = False
            if digest != self._digest:
                log.info(f"{self._file_events}_changed", path=self.path)
                self.reload()
