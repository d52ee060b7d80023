"""What one call or offer row adds to its rollup group: the one definition the running sums (as
rows are written), the recomputed days and the rebuilds all share, so the three cannot disagree.

The definitions follow the raw-row reports (reports/kpi.py, reports/ring_twice.py): a call is
answered when its outcome is answered or transferred; timely when answered with wait_s <= the
threshold; talk counts only for answered calls with a talk time; an offer counts for ring-twice
when the phone could answer it (answered or no-answer). Pure functions over row dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

ANSWERED = ("answered", "transferred")
COUNTED = ("answered", "no-answer")
CALL_SUMS = ("offered", "answered", "timely", "abandoned", "timeouts", "talk_sum", "talk_n", "ended_by_agent")
OFFER_SUMS = ("offers", "answered", "within_two_rings", "rings", "missed")
KEY = ("pbx", "day", "half", "queue", "agent")

Key = tuple[str, date, int, str, str]


@dataclass(frozen=True)
class Basis:
    """What the sums depend on besides the rows; stored with them (rollup_state)."""

    tz: ZoneInfo
    timely_threshold_s: float
    two_rings_limit_s: float


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL and the records aware datetimes.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def local_day_half(moment: datetime, tz: ZoneInfo) -> tuple[date, int]:
    """The local day and half-hour (0..47) of a UTC moment: the wall clock's, as the SQL of the
    raw reports computes it (kpi.local_slot)."""
    local = utc(moment).astimezone(tz)
    return local.date(), (local.hour * 60 + local.minute) // 30


def call_sums(row: dict, basis: Basis) -> tuple[Key, tuple] | None:
    day, half = local_day_half(row["joined_at"], basis.tz)
    outcome = row["outcome"]
    answered = outcome in ANSWERED
    wait, talk = row.get("wait_s"), row.get("talk_s")
    talked = answered and talk is not None
    values = (1, int(answered), int(answered and wait is not None and wait <= basis.timely_threshold_s),
              int(outcome == "abandoned"), int(outcome == "timeout"), float(talk) if talked else 0.0, int(talked),
              int(answered and row.get("ended_by") == "agent"))
    return (row["pbx"], day, half, row["queue"], row.get("agent") or ""), values


def offer_sums(row: dict, basis: Basis) -> tuple[Key, tuple] | None:
    result = row["result"]
    if result not in COUNTED:
        return None
    day, half = local_day_half(row["offered_at"], basis.tz)
    answered = result == "answered"
    ring_s = row.get("ring_s")
    values = (1, int(answered), int(answered and ring_s is not None and ring_s <= basis.two_rings_limit_s),
              int(row.get("rings") or 0), int(result == "no-answer"))
    return (row["pbx"], day, half, row["queue"], row.get("agent") or ""), values


class Sums:
    """Sums per group, with signs: a replaced row is taken away and its replacement added."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.groups: dict[Key, list] = {}

    def add(self, item: tuple[Key, tuple] | None, sign: int = 1) -> None:
        if item is None:
            return
        key, values = item
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [0] * self.width
        for i, v in enumerate(values):
            group[i] += sign * v

    def rows(self, names: tuple[str, ...], keep_zero: bool = False) -> list[dict]:
        """As rows of the rollup table; a group whose every sum is zero (a row replaced by itself)
        is left out unless asked for."""
        return [dict(zip(KEY, key), **dict(zip(names, values))) for key, values in self.groups.items()
                if keep_zero or any(values)]
