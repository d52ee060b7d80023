"""What every settings section is built from: the strict base, and the value types several sections share.

It sits below the core and the features alike (it imports no pbx_bridge package but yaml_errors), so
each package can own its section and config.py only assembles them, without an import running upward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict

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
