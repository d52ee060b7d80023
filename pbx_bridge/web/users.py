"""The users of the report pages: a YAML file of names, roles and argon2 password hashes.

    users:
      wang.li:
        role: lead          # every page
        password: $argon2id$v=19$m=65536,t=3,p=4$...   # `pbx-bridge web hash-password`
      zhao.min:
        role: viewer        # the reports only (monthly, intraday, ring-twice)

It is an admin's file like the rota (pbx_bridge/admin_file.py): a broken file names file:line:key and
stops the start; a broken edit on SIGHUP or on change is refused and the users in force stay.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import Field, ValidationError, field_validator

from pbx_bridge.admin_file import AdminFile
from pbx_bridge.settings import SettingsConflict, Strict
from pbx_bridge.yaml_errors import PlainLoader, format_validation_error, read_yaml

ROLES = ("lead", "viewer")
NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class WebSetupError(SettingsConflict):
    """The report pages cannot start as configured (one line for the admin; the daemon exits 2 like
    any other config error: the CLI knows SettingsConflict, not this room)."""


class UsersFileError(WebSetupError):
    """One line for the admin: file:line: key: problem."""


class UserEntry(Strict):
    role: Literal["lead", "viewer"]
    password: str = Field(description="an argon2 hash from `pbx-bridge web hash-password`")

    @field_validator("password")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith(("$argon2id$", "$argon2i$", "$argon2d$")):
            raise ValueError("not an argon2 hash: make one with `pbx-bridge web hash-password`")
        return value


class UsersDoc(Strict):
    users: dict[str, UserEntry]

    @field_validator("users")
    @classmethod
    def _names(cls, value: dict[str, UserEntry]) -> dict[str, UserEntry]:
        for name in value:
            if not re.match(NAME, str(name)):
                raise ValueError(f"{name!r}: a user name is letters, digits and . _ @ - (at most 64)")
        return value


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def fingerprint(self) -> str:
        """Goes into the session: a changed password (or role) ends the sessions made before it."""
        return hashlib.sha256(f"{self.role}\n{self.password_hash}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Users:
    path: str
    by_name: dict[str, User]

    def get(self, name: str) -> User | None:
        return self.by_name.get(name)

    def summary(self) -> str:
        roles = {r: sum(1 for u in self.by_name.values() if u.role == r) for r in ROLES}
        return ", ".join(f"{n} {r}" for r, n in roles.items())


def parse_users(path: str, text: str | None = None) -> Users:
    data, root = read_yaml(path, UsersFileError, loader=PlainLoader, text=text)
    try:
        doc = UsersDoc.model_validate(data)
    except ValidationError as exc:
        raise UsersFileError(format_validation_error(path, root, exc, data)) from None
    return Users(path, {str(n): User(str(n), e.role, e.password) for n, e in doc.users.items()})


class UsersHolder(AdminFile[Users]):
    """The users in force; `reload()` keeps them on any error (logged with file:line)."""

    def __init__(self, path: str, on_change: Callable[[Users], None] | None = None) -> None:
        super().__init__(str(path), lambda p, text: parse_users(p, text), UsersFileError, summary=Users.summary,
                         events="web_users", noun="users", on_change=on_change)

    @property
    def current(self) -> Users:
        if self._value is None:
            raise RuntimeError("the users file is not loaded yet")
        return self._value
