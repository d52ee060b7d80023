"""Settings of the KPI reports (rules §3–§5): which queue belongs to which company, the targets each
figure is held to, and when the scheduled reports run.

Every key has a default, so a site without a `reports:` section gets the rules' own standards.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

from pydantic import Field, field_validator

from pbx_bridge.settings import Strict

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Targets(Strict):
    """The standard each figure is held to; a figure on the wrong side is marked as a miss."""

    answer_rate: float = Field(default=0.95, ge=0, le=1, description="接通率 at least this")
    timely_rate: float = Field(default=0.80, ge=0, le=1, description="及时应答率 at least this")
    aht_s: float = Field(default=300, gt=0, description="平均处理时长 at most this many seconds")
    ring_twice: float = Field(default=0.95, ge=0, le=1, description="share of offers answered within two rings")
    abandon_rate: float = Field(default=0.05, ge=0, le=1, description="abandoned / offered at most this")
    outbound_per_day: float | None = Field(default=None, ge=0, description="日呼出量 per agent, at least this")


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM")
    return value


class ReportsConfig(Strict):
    companies: dict[str, str] = Field(default_factory=dict,
                                      description="queue name -> company id; a queue not listed is its own company")
    timely_threshold_s: float = Field(default=20, gt=0, description="answered within this wait counts as timely")
    repeat_caller_calls: int = Field(default=3, ge=2, description="unanswered calls in one day that make a repeat caller")
    targets: Targets = Field(default_factory=Targets)
    # The scheduler (inside the daemon).
    scheduler: bool = Field(default=True, description="run the intraday reports and the handover in the daemon")
    intraday_times: tuple[str, ...] = ("11:30", "16:30")
    handover_time: str = "08:10"
    handover_days_back: int = Field(default=3, ge=0, le=31)
    handover_dir: Path = Path("/var/lib/pbx-bridge/handover")
    output_dir: Path = Field(default=Path("/var/lib/pbx-bridge/reports"),
                             description="where the scheduled intraday reports are written")
    catch_up_days: int = Field(default=3, ge=0, le=31, description="missed runs this far back are made up (0: only those missed by less than an hour)")

    @field_validator("handover_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)

    @field_validator("intraday_times")
    @classmethod
    def _times(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(_hhmm(v) for v in value))

    def company_of(self, queue: str) -> str:
        return self.companies.get(queue, queue)

    @staticmethod
    def at(hhmm: str) -> time:
        hour, minute = hhmm.split(":")
        return time(int(hour), int(minute))


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"reports": ReportsConfig}
