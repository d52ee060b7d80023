"""The admins' screening file (`nuisance.file`), and the holder that keeps it current.

    screen:
      - number: "13800138000"
        until: 2026-12-31          # optional: through that local day; without it, while listed
        reason: threats, reported to the police on 2026-11-02
    never_screen:
      - "110"                      # never screened, whatever the warnings say

Errors name the file, the line and the key, like the config and the rota. Numbers are read as
text even unquoted (`0301` and `+8613800138000` must not become integers). The daemon reloads
the file when it changes (and on SIGHUP); an edit with an error is refused and the list in force
stays, as with the rota.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from pydantic import Field, ValidationError, field_validator, model_validator

from pbx_bridge.nuisance.model import Listed, valid_number
from pbx_bridge.settings import Strict
from pbx_bridge.yaml_errors import (At, PlainLoader, file_digest, format_validation_error, in_years, node_line,
                                    read_bytes, read_yaml)

log = structlog.get_logger(__name__)


class ScreeningFileError(Exception):
    """A problem in the screening file, phrased for the admin: `file:line: key: message`."""


class TextNumbersLoader(PlainLoader):
    """PlainLoader with no integers or floats at all: every number in this file is a phone number."""


TextNumbersLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in PlainLoader.yaml_implicit_resolvers.items()
}


class Entry(Strict):
    number: str
    until: datetime | date | None = None
    reason: str = Field(min_length=1)

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> str:
        return valid_number(value)

    @field_validator("until")
    @classmethod
    def _until(cls, value: datetime | date | None) -> datetime | date | None:
        return None if value is None else in_years(value)


class ScreeningFile(Strict):
    screen: list[Entry] = []
    never_screen: list[str] = []

    @field_validator("never_screen", mode="before")
    @classmethod
    def _numbers(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        out = []
        for i, item in enumerate(value):
            try:
                out.append(valid_number(item))
            except ValueError as exc:
                raise At(str(exc), loc=(i,)) from None
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ScreeningFile:
        seen: set[str] = set()
        for i, entry in enumerate(self.screen):
            if entry.number in seen:
                raise At(f"{entry.number} is listed twice", loc=("screen", i, "number"))
            seen.add(entry.number)
        for i, number in enumerate(self.never_screen):
            if number in seen:
                raise At(f"{number} is also in screen: a number cannot be both", loc=("never_screen", i))
        return self


class Loaded:
    """The file as the screens use it; `until` as a moment in the site's time zone."""

    def __init__(self, path: str, parsed: ScreeningFile, lines: list[int | None], tz: ZoneInfo) -> None:
        self.path = path
        self.listed: list[Listed] = []
        for entry, line in zip(parsed.screen, lines):
            until = entry.until
            if isinstance(until, datetime):
                until = until if until.tzinfo else until.replace(tzinfo=tz)
            elif isinstance(until, date):  # a day: screened through the end of it
                until = datetime.combine(until + timedelta(days=1), time.min, tz)
            self.listed.append(Listed(entry.number, until, entry.reason, f"{path}:{line}" if line else path))
        self.never = frozenset(parsed.never_screen)

    def summary(self) -> str:
        return f"{len(self.listed)} screened, {len(self.never)} never screened"


def load_file(path: str, tz: ZoneInfo, text: str | None = None) -> Loaded:
    data, root = read_yaml(path, ScreeningFileError, loader=TextNumbersLoader, text=text)
    try:
        parsed = ScreeningFile.model_validate(data)
    except ValidationError as exc:
        raise ScreeningFileError(format_validation_error(path, root, exc, data)) from None
    lines = [node_line(root, ("screen", i)) for i in range(len(parsed.screen))]
    return Loaded(path, parsed, lines, tz)


class FileHolder:
    """The file in force; `reload()` keeps the old one on any error (logged with the line)."""

    def __init__(self, path: str | Path, tz: ZoneInfo, on_change: Callable[[Loaded], None] | None = None) -> None:
        self.path = str(path)
        self.tz = tz
        self.on_change = on_change
        self.current: Loaded | None = None
        self._digest: bytes | None = None

    def _read(self) -> tuple[str, bytes]:
        raw = read_bytes(self.path, ScreeningFileError)
        try:
            return raw.decode("utf-8"), hashlib.sha256(raw).digest()
        except UnicodeDecodeError as exc:
            raise ScreeningFileError(f"{self.path}: not UTF-8 text: {exc.reason}") from exc

    def load(self) -> Loaded:
        """At start: load or raise ScreeningFileError (the daemon exits 2, like a broken rota)."""
        text, self._digest = self._read()
        self.current = load_file(self.path, self.tz, text)
        log.info("screening_file_loaded", path=self.path, summary=self.current.summary())
        return self.current

    def reload(self) -> bool:
        try:
            try:
                text, self._digest = self._read()
            except ScreeningFileError:
                self._digest = file_digest(self.path)  # refused (too large, ...): not again until it changes
                raise
            loaded = load_file(self.path, self.tz, text)
        except Exception as exc:  # noqa: BLE001 - whatever an edit does, the list in force stays
            error = str(exc) if isinstance(exc, ScreeningFileError) else f"{self.path}: cannot load: {exc!r}"
            log.warning("screening_file_reload_refused", path=self.path, error=error,
                        kept="the previous list stays in force" if self.current else "no list in force")
            return False
        self.current = loaded
        log.info("screening_file_reloaded", path=self.path, summary=loaded.summary())
        if self.on_change is not None:
            self.on_change(loaded)
        return True

    def changed(self) -> bool:
        digest = file_digest(self.path)
        return digest is not None and digest != self._digest  # missing: the list in force stays

    async def watch(self, interval: float = 2.0) -> None:
        """Until cancelled: reload when the content changed (a broken edit is tried once per change)."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload()
