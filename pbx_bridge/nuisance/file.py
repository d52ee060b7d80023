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

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator, model_validator

from pbx_bridge.admin_file import AdminFile
from pbx_bridge.nuisance.model import Listed, valid_number
from pbx_bridge.settings import Strict
from pbx_bridge.yaml_errors import At, PlainLoader, format_validation_error, in_years, node_line, read_yaml



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


class FileHolder(AdminFile[Loaded]):
    """The file in force (None until loaded); `reload()` keeps the old one on any error (logged with the
    line). The mechanism is the one every admin file shares (`pbx_bridge.admin_file`)."""

    def __init__(self, path: str | Path, tz: ZoneInfo, on_change: Callable[[Loaded], None] | None = None) -> None:
        super().__init__(str(path), lambda p, text: load_file(p, tz, text), ScreeningFileError,
                         summary=Loaded.summary, events="screening_file", file_events="screening_file",
                         noun="list", on_change=on_change)
        self.tz = tz

    @property
    def current(self) -> Loaded | None:
        return self._value

    def reload(self) -> bool:  # type: ignore[override] - the desk and the tests want only ok
        return super().reload()[0]
