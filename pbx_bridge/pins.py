"""The one PIN check behind every phone menu that asks for a PIN (*81 agent log-in, *86 voicemail).

One lock-out for all of them: a guesser who is locked at one menu must not carry on at another
that checks the same PIN, so every menu counts its wrong PINs into the same `PinLockout`, keyed
per phone and per 工号 (rules §7: keep the login secret).

argon2 is slow on purpose (tens to hundreds of ms of CPU), so it never runs on the event loop,
where it would stall every AMI event and FastAGI session meanwhile. It runs in a worker thread
(argon2-cffi releases the GIL), at most `CONCURRENT` at a time, and at most `WAITING` more queue
for a turn: past that a PIN is answered "try later" at once, unchecked and uncounted against the
phone, so a flood of PIN calls cannot pile up work or memory; each such refusal is counted.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache

import structlog

from pbx_bridge.threads import Busy, CappedThreads


log = structlog.get_logger(__name__)

def hash_pin(pin: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(pin)


def verify_pin(pin_hash: str, pin: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


MAX_KEYS = 10_000  # bounded memory: the oldest keys are forgotten first
CONCURRENT = 2  # argon2 verifications at once (each takes one core; the box has few)
WAITING = 16  # further PIN checks that may wait for a turn; beyond: refused, "try later"


class PinLockout:
    """Wrong PINs lock the menus for a while, per phone and per 工号.

    Counting per 工号 as well as per phone stops guessing one agent's PIN from several phones; an
    unknown 工号 counts the same as a known one, so the lock itself says nothing about who exists.
    Kept in memory: a daemon restart forgets the counts, which costs a guesser a restart they cannot
    cause from a phone.
    """

    def __init__(self, after: int, window_s: float, lock_s: float, clock: Callable[[], float] = time.monotonic):
        self.after, self.window_s, self.lock_s, self.clock = after, window_s, lock_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, *keys: str) -> bool:
        now = self.clock()
        return any(self._locked_until.get(k, 0) > now for k in keys if k)

    def failed(self, *keys: str) -> bool:
        """Count a wrong PIN against each key; True when that locked one of them."""
        now = self.clock()
        locked = False
        for key in (k for k in keys if k):
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.after:
                self._locked_until[key] = now + self.lock_s
                times.clear()
                locked = True
        while len(self._failures) > MAX_KEYS:
            self._failures.pop(next(iter(self._failures)))
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
        return locked

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def health(self) -> dict:
        now = self.clock()
        return {"locked": sum(1 for until in self._locked_until.values() if until > now)}


class Verdict(enum.Enum):
    OK = "ok"  # the PIN is the agent's and neither the phone nor the 工号 is locked
    WRONG = "wrong"  # refused; the caller may try again in this call
    LOCKED = "locked"  # refused, and the phone is now locked: say goodbye
    BUSY = "busy"  # not checked: too many PIN checks already waiting; say "try later"


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """Checked against when nobody matches, so that answer takes as long as a wrong PIN."""
    return hash_pin("decoy-never-a-pin")


def _verify(pin_hash: str | None, pin: str) -> bool:
    """In a worker thread: argon2 (and the decoy's one-off hashing) never blocks the loop."""
    matches = verify_pin(pin_hash if pin_hash is not None else _decoy_hash(), pin)
    return matches and pin_hash is not None


def _phone_key(phone: str) -> str:
    return f"phone:{phone}"


class PinGate:
    """Shared by every PIN menu: built once by the daemon, handed to each menu's routes."""

    def __init__(self, lockout: PinLockout, concurrent: int = CONCURRENT, waiting: int = WAITING,
                 verify: Callable[[str | None, str], bool] = _verify):
        self.lockout = lockout
        self._verify = verify
        self.threads = CappedThreads("pin-verify", concurrent, waiting, on_error=lambda exc: log.error(
            "pin_verify_failed", error=repr(exc)[:200]))

    @classmethod
    def from_settings(cls, settings) -> PinGate:  # noqa: ANN001 - AgentsConfig (agents.lockout_*)
        return cls(PinLockout(settings.lockout_after, settings.lockout_window_s, settings.lockout_for_s))

    def locked(self, phone: str) -> bool:
        """Asked before any question: a locked phone hears goodbye and nothing else."""
        return self.lockout.locked(_phone_key(phone))

    async def check(self, phone: str, employee_no: str, pin_hash: str | None, pin: str) -> Verdict:
        """One PIN typed at a menu on `phone`, claiming 工号 `employee_no` (typed, or the phone's agent).

        `pin_hash` is None when nobody matches (unknown 工号 or phone): the PIN is still hashed
        against a decoy so the answer takes as long, and the wrong PIN counts the same.
        """
        keys = (_phone_key(phone), f"employee:{employee_no}" if employee_no else "")
        if pin:
            matches = await self._check_off_loop(pin_hash, pin)
            if matches is None:
                log.warning("pin_check_refused_busy", phone=phone, refused=self.threads.refused_busy)
                return Verdict.BUSY
        else:
            matches = False
        if matches and not self.lockout.locked(*keys):
            self.lockout.succeeded(*keys)
            return Verdict.OK
        locked_now = self.lockout.failed(*keys)
        if locked_now or self.lockout.locked(keys[0]):
            log.warning("pin_menu_locked", phone=phone)
            return Verdict.LOCKED
        return Verdict.WRONG

    async def _check_off_loop(self, pin_hash: str | None, pin: str) -> bool | None:
        """The verification in a worker thread; None: refused unchecked, too many are waiting."""
        try:
            return await self.threads.run(self._verify, pin_hash, pin)
        except Busy:
            return None

    def health(self) -> dict:
        return {**self.lockout.health(), "pin_checks_running": self.threads.running,
                "pin_checks_waiting": self.threads.waiting, "pin_checks_refused_busy": self.threads.refused_busy}
