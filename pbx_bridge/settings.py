"""What every settings section is built from: the strict base, and the value types several sections share.

It sits below the core and the features alike (it imports no pbx_bridge package but yaml_errors), so
each package can own its section and config.py only assembles them, without an import running upward.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from pbx_bridge.yaml_errors import read_bytes


class Strict(BaseModel):
    """Frozen, and refuses unknown keys: a misspelt key in the admin's YAML is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


ZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name (Asia/Shanghai), checked when the file is read."""


def _database_url(value: str) -> str:
    """A URL SQLAlchemy can read. The error never repeats the URL: it may carry a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except ArgumentError:
        raise ValueError("not a database URL (driver://user:password@host/database)") from None
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


MAX_SECRET_BYTES = 4096


class SettingsConflict(ValueError):
    """A room's settings that need another section's (e.g. a page without the web listener): found
    when the room is wired, it stops the start with exit status 2 like any other config error."""


class SecretFileError(Exception):
    """Why a secret file was refused, in words that never include the secret."""


def read_secret_file(path: str | Path) -> str:
    """The secret in a file (stripped): a regular file of at most 4 KiB, UTF-8; SecretFileError
    (`PATH: cannot read: ...`, `PATH: not a regular file`, `PATH: too large ...`) otherwise.

    Bounded because the path is the admin's: `/dev/zero` or a log file named by mistake must be
    a one-line error at start, not a MemoryError.
    """
    raw = read_bytes(str(path), SecretFileError, limit=MAX_SECRET_BYTES)
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{path}: not UTF-8 text") from None


def url_passwords(url: str | None) -> list[str]:
    """The password of a database URL as the daemon uses it and as it is written (%-quoted): both are
    masked in logs."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url:
        return []
    out = []
    try:
        out.append(make_url(url).password)
    except ArgumentError:
        pass
    try:
        out.append(urlsplit(url).password)
    except ValueError:
        pass
    return [p for p in out if p]


# --- durations, written the way an admin says them -------------------------------------------------
# `30d`, `12h`, `90m`, `45s` or a plain number of seconds: a window of 2592000 seconds is not something
# anyone reads correctly.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s)?\s*$")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1, None: 1}


def parse_duration(value: object) -> timedelta:
    """`7d`, `12h`, `90m`, `45s`, `3600` (seconds) -> timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration: write e.g. 30d, 12h, 90m, 45s")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT[unit] and seconds % _UNIT[unit] == 0:
            return f"{int(seconds // _UNIT[unit])}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


# A directory as Asterisk sees it, written into a MixMonitor file name: nothing that could end the
# argument or climb out of it.
_DIRECTORY = re.compile(r"/[A-Za-z0-9_./-]{0,200}")


def _asterisk_directory(value: str) -> str:
    if not _DIRECTORY.fullmatch(value) or "/../" in f"{value}/":
        raise ValueError(f"{value!r}: an absolute directory of letters, digits, _ . - /")
    return value.rstrip("/") or "/"


AsteriskDirectory = Annotated[str, AfterValidator(_asterisk_directory)]
