"""The rota in force, reloaded on demand (SIGHUP, wired by the daemon) and when the file changes.

A new rota that fails to load is refused: the old one stays in force and the error line is logged
(`rota_reload_refused`); the daemon never stops because of an edit (the file's limits: `yaml_errors`). `watch()` polls the file (size, mtime and a hash of the content) from the
event loop: no thread, no inotify.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable

import structlog

from pbx_bridge.rota.load import RotaError, load_rota
from pbx_bridge.rota.model import Rota
from pbx_bridge.yaml_errors import file_digest, read_bytes

log = structlog.get_logger(__name__)


def _summary(rota: Rota) -> str:
    return f"{len(rota.companies)} companies, {rota.agent_count} agents, {len(rota.round_ids)} rounds"


class RotaHolder:
    def __init__(self, path: str, on_change: Callable[[Rota], None] | None = None) -> None:
        self.path = str(path)
        self._rota: Rota | None = None
        self._digest: bytes | None = None  # of the last content tried, loaded or refused
        self.version = 0  # bumped at each rota put in force
        self._listeners: list[Callable[[Rota], None]] = [on_change] if on_change else []

    @property
    def current(self) -> Rota:
        if self._rota is None:
            raise RuntimeError("the rota is not loaded yet")
        return self._rota

    @property
    def loaded(self) -> bool:
        return self._rota is not None

    def subscribe(self, listener: Callable[[Rota], None]) -> None:
        """Called with the new rota after each successful reload (not after the first load)."""
        self._listeners.append(listener)

    def _read(self) -> tuple[str, bytes]:
        raw = read_bytes(self.path, RotaError)
        try:
            return raw.decode("utf-8"), hashlib.sha256(raw).digest()
        except UnicodeDecodeError as exc:
            raise RotaError(f"{self.path}: not UTF-8 text: {exc.reason}") from exc

    def load(self) -> Rota:
        """At start: load or raise RotaError (one line)."""
        text, digest = self._read()
        self._digest = digest
        self._rota = load_rota(self.path, text=text)
        self.version += 1
        log.info("rota_loaded", path=self.path, summary=_summary(self._rota))
        return self._rota

    def reload(self) -> tuple[bool, str]:
        """Load the file again; on any error keep the rota in force. (ok, one line for the admin)."""
        try:
            try:
                text, self._digest = self._read()
            except RotaError:
                self._digest = self._fingerprint()  # refused (too large, ...): not again until it changes
                raise
            rota = load_rota(self.path, text=text)
        except Exception as exc:  # noqa: BLE001 - whatever an edit does, the rota in force stays
            kept = "the previous rota stays in force" if self._rota is not None else "no rota in force"
            error = str(exc) if isinstance(exc, RotaError) else f"{self.path}: cannot load: {exc!r}"
            log.warning("rota_reload_refused", path=self.path, error=error, kept=kept)
            return False, f"{error} ({kept})"
        self._rota = rota
        self.version += 1
        log.info("rota_reloaded", path=self.path, summary=_summary(rota), version=self.version)
        for listener in self._listeners:
            try:
                listener(rota)
            except Exception:  # noqa: BLE001 - a listener's bug must not undo the reload
                log.exception("rota_listener_failed")
        return True, f"ok: {_summary(rota)}"

    def _fingerprint(self) -> bytes | None:
        """The content's sha256 (None: missing). The hash decides: a rewrite within one mtime tick
        is still seen, and a touch with the same content is not a change. The file is small (a
        larger one is not read: see `file_digest`); reading it each poll costs less than a
        stat-only scheme's edge cases."""
        return file_digest(self.path)

    async def watch(self, interval: float = 2.0) -> None:
        """Until cancelled: every `interval` s, reload if the file's content changed.

        The content's hash decides (an editor that rewrites the same bytes changes nothing); a
        broken edit is refused once and not retried until the file changes again. A missing file
        is logged once and the rota in force stays.
        """
        missing = False
        while True:
            await asyncio.sleep(interval)
            fingerprint = self._fingerprint()
            if fingerprint is None:
                if not missing:
                    log.warning("rota_file_missing", path=self.path)
                missing = True
                continue
            missing = False
            if fingerprint != self._digest:
                log.info("rota_file_changed", path=self.path)
                self.reload()
