"""When the companies listen to their voicemail.

Round r (1-based) listens at `first + (i-1) × interval + (r-1) × round_gap` for i = 1..count:
with the defaults round 1 at 11:00, 13:00, 15:00, round 2 at 11:10, 13:10, 15:10, and so on.
Nothing is held on a non-working day. A listening is held only inside the duty agent's shift
(`start <= time < end`; the agent's shift, else the company's; no shift: all held), because the
rule says the agent listens "every two hours until the end of the shift". A company whose agents
are all on leave keeps its listenings, with `agent` None, so that they can be recorded as missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pbx_bridge.rota.duty import duty
from pbx_bridge.rota.model import Agent, Rota


@dataclass(frozen=True)
class Listening:
    company_id: str
    round_no: int
    index: int
    """1..count"""
    at: datetime
    """Aware, in the rota's time zone."""
    agent: Agent | None = None
    """The duty agent when this was computed (look it up again at the time if the rota may have been reloaded)."""

    @property
    def key(self) -> str:
        """Stable id for records: `jingan/2026-10-08/2`."""
        return f"{self.company_id}/{self.at.date().isoformat()}/{self.index}"


def listenings(rota: Rota, day: date) -> list[Listening]:
    """The day's listenings, ordered by time, then round, then the company's place in its round."""
    if not rota.is_working_day(day)[0]:
        return []
    midnight = datetime(day.year, day.month, day.day, tzinfo=rota.tz)
    out: list[Listening] = []
    for round_no, members in enumerate(rota.round_ids, start=1):
        for company_id in members:
            today = duty(rota, company_id, day)
            if not today.working_day:
                continue
            shift = rota.shift_of(today.agent) if today.agent else None
            if shift is None and today.agent is None and rota.company(company_id).shift:
                shift = rota.shifts[rota.company(company_id).shift]
            for index in range(1, rota.listenings.count + 1):
                offset = rota.listenings.offset(round_no, index)
                # Wall-clock time of day, so a DST change does not shift the listening.
                at = (midnight.replace(tzinfo=None) + offset).replace(tzinfo=rota.tz)
                if shift is not None and not shift.holds(at.time()):
                    continue
                out.append(Listening(company_id, round_no, index, at, today.agent))
    out.sort(key=lambda li: (li.at, li.round_no))
    return out


def next_listenings(rota: Rota, after: datetime, until: datetime) -> list[Listening]:
    """The listenings with `after < at <= until` (both aware), in time order."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("after and until must be aware datetimes")
    day = after.astimezone(rota.tz).date()
    last = until.astimezone(rota.tz).date()
    out: list[Listening] = []
    while day <= last:
        out.extend(li for li in listenings(rota, day) if after < li.at <= until)
        day += timedelta(days=1)
    return out


def shift_warnings(rota: Rota) -> list[str]:
    """Shifts in which the agents on them never listen: none of the listening times of their
    companies' rounds falls inside the shift, so `listenings` holds nothing on their duty days
    (a shift 14:00-18:00 with listenings at 11:00, 13:00). Almost surely a slip in the file."""
    users: dict[str, set[int]] = {}
    for company in rota.companies:
        round_no = rota.round_of(company.id)
        for agent in company.agents:
            name = agent.shift or company.shift
            if name is not None:
                users.setdefault(name, set()).add(round_no)
    out = []
    for name, rounds in sorted(users.items()):
        shift = rota.shifts[name]
        times = sorted({(datetime.min + rota.listenings.offset(r, i)).time()
                        for r in rounds for i in range(1, rota.listenings.count + 1)})
        if not any(shift.holds(t) for t in times):
            listed = ", ".join(f"{t:%H:%M}" for t in times)
            out.append(f"shifts.{name} ({shift}) holds no listening time: its agents' rounds listen at {listed}, "
                       "so on their duty days nobody listens; move the shift or `listenings`")
    return out
