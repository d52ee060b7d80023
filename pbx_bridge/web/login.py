"""The password check behind the login form: argon2 off the event loop, and a lock on guessing.

argon2 takes tens of milliseconds of CPU on purpose, so it runs in a worker thread, at most
`CONCURRENT` at once (pbx_bridge/pins.py does the same for the phone PINs); a login beyond
`WAITING` queued ones is refused at once ("busy"). Wrong passwords count per peer and per user
name (`PinLockout`): `login_attempts` within `login_window` lock that peer, or that user name from
every peer, for `login_lockout`. An unknown user is checked against a decoy hash and counts the
same, so neither the answer nor its time tells who exists.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from typing import Callable

import structlog

from pbx_bridge.pins import PinLockout, hash_pin, verify_pin
from pbx_bridge.threads import Busy, CappedThreads

log = structlog.get_logger(__name__)

CONCURRENT = 2
WAITING = 16
MAX_PASSWORD = 1024  # bytes: argon2 hashes anything, but a megabyte password is a CPU attack


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    BUSY = "busy"


@lru_cache(maxsize=1)
def _decoy() -> str:
    return hash_pin("decoy-never-a-password")


def _verify(password_hash: str | None, password: str) -> bool:
    """In a worker thread."""
    return verify_pin(password_hash or _decoy(), password) and password_hash is not None


class LoginGate:
    def __init__(self, lockout: PinLockout, concurrent: int = CONCURRENT, waiting: int = WAITING,
                 verify: Callable[[str | None, str], bool] = _verify) -> None:
        self.lockout = lockout
        self._verify = verify
        self.threads = CappedThreads("web-login-verify", concurrent, waiting, on_error=lambda exc: log.error(
            "web_login_verify_failed", error=repr(exc)[:200]))
        self.failed = 0

    async def check(self, peer: str, user: str, password_hash: str | None, password: str) -> Outcome:
        keys = (f"peer:{peer}", f"user:{user.lower()}")
        if self.lockout.locked(*keys):
            return Outcome.LOCKED
        matches = False
        if password and len(password.encode()) <= MAX_PASSWORD:
            checked = await self._off_loop(password_hash, password)
            if checked is None:
                log.warning("web_login_refused_busy", refused=self.threads.refused_busy)
                return Outcome.BUSY
            matches = checked
        if matches:
            self.lockout.succeeded(*keys)
            return Outcome.OK
        self.failed += 1
        # an unknown name is not logged: it may be a password typed into the wrong field
        shown = user[:64] if password_hash is not None else "(unknown)"
        if self.lockout.failed(*keys):
            log.warning("web_login_locked", peer=peer, user=shown)
            return Outcome.LOCKED
        log.info("web_login_failed", peer=peer, user=shown)
        return Outcome.WRONG

    async def _off_loop(self, password_hash: str | None, password: str) -> bool | None:
        try:
            return await self.threads.run(self._verify, password_hash, password)
        except Busy:
            return None

    def health(self) -> dict:
        return {**self.lockout.health(), "logins_failed": self.failed, "logins_refused_busy": self.threads.refused_busy}
