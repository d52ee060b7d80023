"""Nuisance calls (rules §6): the records, and the one decision — is this number screened now?

The decision is a pure function of what the store and the admins' file hold (warnings, admin
screens, lifts, the file's lists) and the time, so the daemon's fast in-memory view, the CLI's
listing and the tests all get the same answer from the same code.

The rules, where the issue left them open:
- `warnings_to_screen` warnings (default 2) no further apart than `window` (default 30 days)
  screen the number for `screen_for` (default 7 days) from the last of them. Another warning
  while screened extends the screen.
- A lift is a pardon: it ends any screen of the number in force (automatic or an admin's), and
  the warnings and admin screens before it no longer count. New warnings may screen again.
- The file's `screen:` entries hold while they are in the file (a CLI lift does not undo them:
  the file is the admin's own statement; edit it). `never_screen:` wins over everything.
- Warnings are recorded for any number; a call without a usable number (anonymous) is never
  screened, since there is nothing to recognise it by next time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pbx_bridge.nuisance.settings import format_duration
from pbx_bridge.numbers import InvalidValue, PhoneNumber, phone_number_or_none, shown
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.nuisance.tables import nuisance_screened_calls, nuisance_warnings

# Written between digits by people and some trunks; dropped before the number is checked.
_SEPARATORS = re.compile(r"[ \-().]")


def normalise(number: object, source: str | None = "nuisance") -> PhoneNumber | None:
    """The number as screens compare it: separators removed; None if there is no number, or if
    what is there is not a phone number (logged under `source`; None: not logged)."""
    return phone_number_or_none(_SEPARATORS.sub("", str(number or "")), source=source)


def valid_number(number: object) -> PhoneNumber:
    """For numbers admins type (CLI, file): separators dropped, then a PhoneNumber or ValueError."""
    text = _SEPARATORS.sub("", str(number if number is not None else "")).strip()
    try:
        return PhoneNumber(text)
    except InvalidValue:
        raise InvalidValue(f"{shown(number)} is not a phone number (digits, optionally a leading +)") from None


def utc(moment: datetime) -> datetime:
    """Aware UTC; SQLite hands back naive UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass
class WarningRecord:
    """One warning: the evidence the rules ask for (number, time, agent, the call)."""

    pbx: str
    call_uniqueid: str  # the caller's channel in the queue (= calls.uniqueid), or the agent's if unknown
    seq: int  # 1, 2, ... within the call
    number: str  # as the caller ID arrived ("" if none)
    warned_at: datetime
    agent: str  # the queue member's name, or the endpoint if the name is not known
    endpoint: str
    agent_channel: str
    caller_channel: str


@dataclass
class ScreenedCallRecord:
    """A call turned away at the inbound entry (it never entered a queue, so it has no call record)."""

    pbx: str
    uniqueid: str
    number: str
    screened_at: datetime
    source: str
    reason: str
    until: datetime | None


@dataclass(frozen=True)
class AdminScreen:
    number: str
    created_at: datetime
    until: datetime | None  # None: until lifted
    reason: str
    created_by: str


@dataclass(frozen=True)
class Lift:
    number: str
    lifted_at: datetime
    reason: str
    lifted_by: str


@dataclass(frozen=True)
class Listed:
    """A `screen:` entry of the admins' file."""

    number: str
    until: datetime | None
    reason: str
    where: str  # file:line, for messages


@dataclass(frozen=True)
class Rules:
    warnings_to_screen: int
    window: timedelta
    screen_for: timedelta

    @property
    def lookback(self) -> timedelta:
        """How far back a warning can still matter to a screen in force now."""
        return self.window + self.screen_for


@dataclass(frozen=True)
class Screen:
    number: str
    source: str  # warnings | admin | file
    since: datetime | None
    until: datetime | None  # None: permanent (until lifted, or removed from the file)
    reason: str

    def active(self, now: datetime) -> bool:
        return (self.since is None or self.since <= now) and (self.until is None or now < self.until)


def _later(a: Screen | None, b: Screen) -> Screen:
    """The screen that lasts longer (permanent beats any date); on a tie the first one given."""
    if a is None:
        return b
    if a.until is None:
        return a
    return b if b.until is None or b.until > a.until else a


@dataclass
class NumberState:
    number: str
    screen: Screen | None = None  # in force now
    latest: Screen | None = None  # the longest-lasting screen since the last lift, in force or not
    warnings: int = 0  # within `window` up to now, since the last lift
    last_warning: datetime | None = None
    lifted_at: datetime | None = None
    never: bool = False
    warning_times: list[datetime] = field(default_factory=list, repr=False)

    @property
    def state(self) -> str:
        if self.never:
            return "never-screen"
        if self.screen is not None:
            return "screened"
        if self.latest is not None:
            return "released"
        if self.lifted_at is not None:
            return "lifted"
        return "warned"


def _automatic(number: str, times: list[datetime], rules: Rules) -> Screen | None:
    """The latest screen earned by warnings; `since` is where an unbroken run of screens began."""
    n = rules.warnings_to_screen
    latest: Screen | None = None
    for i in range(n - 1, len(times)) if n > 0 else ():
        if times[i] - times[i - n + 1] > rules.window:
            continue
        since = latest.since if latest is not None and latest.until > times[i] else times[i]
        count = sum(1 for t in times[: i + 1] if t >= times[i] - rules.window)
        latest = Screen(number, "warnings", since, times[i] + rules.screen_for,
                        f"{count} warnings within {format_duration(rules.window)}")
    return latest


def evaluate(warnings: Iterable[tuple[str, datetime]], admin: Iterable[AdminScreen], lifts: Iterable[Lift],
             listed: Iterable[Listed], never: Iterable[str], rules: Rules, now: datetime) -> dict[str, NumberState]:
    """Every number anything is known about, and whether it is screened at `now`.

    `warnings` are (number, time) pairs; numbers must already be normalised.
    """
    states: dict[str, NumberState] = {}

    def state(number: str) -> NumberState:
        return states.setdefault(number, NumberState(number))

    for lift in lifts:
        if lift.lifted_at <= now:
            s = state(lift.number)
            s.lifted_at = max(s.lifted_at or lift.lifted_at, lift.lifted_at)
    for number, at in warnings:
        if number and at <= now:
            state(number).warning_times.append(at)
    for s in states.values():
        s.warning_times.sort()
        if s.lifted_at is not None:
            s.warning_times = [t for t in s.warning_times if t > s.lifted_at]
        s.warnings = sum(1 for t in s.warning_times if t > now - rules.window)
        s.last_warning = s.warning_times[-1] if s.warning_times else None
        screen = _automatic(s.number, s.warning_times, rules)
        if screen is not None:
            s.latest = screen
    for entry in admin:
        s = state(entry.number)
        if s.lifted_at is not None and entry.created_at <= s.lifted_at or entry.created_at > now:
            continue
        s.latest = _later(s.latest, Screen(entry.number, "admin", entry.created_at, entry.until, entry.reason))
    for entry in listed:
        s = state(entry.number)
        s.latest = _later(s.latest, Screen(entry.number, "file", None, entry.until, f"{entry.reason} ({entry.where})"))
    for number in never:
        state(number).never = True
    for s in states.values():
        # Every candidate started at or before `now`, so the longest-lasting one is in force if any is.
        if not s.never and s.latest is not None and s.latest.active(now):
            s.screen = s.latest
    return states


def register_records(kinds: RecordKinds) -> None:
    """Warnings and screened calls go through the daemon's writer; screens and lifts are written
    directly by the desk (nuisance/store.py)."""
    kinds.register(WarningRecord, nuisance_warnings)
    kinds.register(ScreenedCallRecord, nuisance_screened_calls)
