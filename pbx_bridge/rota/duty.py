"""Who is on voicemail duty: one agent per company per working day, in turn by 工号.

The turn is a queue (the rule, argued in docs/rota.md):

- On the rota's anchor date (`start`, or the company's own `start`) the queue is the company's
  agents in employee-number order (rotated to begin at `first` if set).
- Each working day the agent at the head of the queue has the turn (`turn_of`). If they are on
  leave they are skipped, and the first agent behind them who is not on leave takes the day.
- **Whoever takes the duty goes to the back of the queue. An agent skipped for leave keeps their
  place**, so they are on duty on their first working day back, and the substitute's next turn
  comes a full cycle later, as if they had simply had their own turn.
- Non-working days (calendar, site overrides) do not move the queue; nor does a working day on
  which every agent is on leave (nobody is on duty that day).

In other words the day goes to the least recently on-duty agent who is not on leave. That gives:

- with nobody on leave, the k-th working day since the anchor (k = 0, 1, ...) goes to
  `ordered[k mod n]`, so over any run of consecutive working days (any calendar month) the
  agents' duty counts differ by at most 1;
- more generally, two agents who are both not on leave over a run of working days take
  turns alternately within it, so their counts there differ by at most 1;
- an agent skipped for leave is on duty on their first working day back.

The days are simulated from the anchor once and cached on the rota object (a reload builds a new
rota, hence a new cache), so a call costs a dict look-up once the day has been reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pbx_bridge.rota.model import Agent, Rota


@dataclass(frozen=True)
class Duty:
    company_id: str
    day: date
    agent: Agent | None
    """On duty; None on a non-working day, before the anchor, or when everyone is on leave."""
    turn_of: Agent | None
    """Whose turn it was (the head of the queue), whether or not they took it."""
    skipped: tuple[tuple[Agent, str], ...]
    """Agents ahead of the duty agent in the queue, skipped, with why (`on leave ...`)."""
    working_day: bool
    reason: str
    """The whole story in one line, for `rota show` and the logs."""
    calendar: str = ""
    """Why the day is (not) a working day: `working day`, `official holiday (国庆节)`, ..."""
    days_off: tuple[tuple[date, str], ...] = ()
    """The non-working days between the previous working day and this day, with why."""
    standby: tuple[Agent, ...] = ()
    """The other agents not on leave, in queue order: who to try next if the duty agent does not answer."""
    ordinal: int | None = None
    """Working days since the anchor (0 is the first), None on a non-working day."""


@dataclass
class _Sim:
    next_day: date
    last: dict[str, int]  # employee_no -> ordinal of the last duty (negative: the initial order)
    ordinal: int = 0
    pending_off: list[tuple[date, str]] = field(default_factory=list)
    days: dict[date, Duty] = field(default_factory=dict)


def _sim(rota: Rota, company_id: str) -> _Sim:
    key = ("duty", company_id)
    sim = rota._cache.get(key)
    if sim is None:
        agents = rota.company(company_id).ordered
        n = len(agents)
        sim = _Sim(next_day=rota.start_of(company_id), last={a.employee_no: i - n for i, a in enumerate(agents)})
        rota._cache[key] = sim
    return sim


def _step(rota: Rota, company_id: str, sim: _Sim) -> None:
    day = sim.next_day
    sim.next_day = day + timedelta(days=1)
    working, why = rota.is_working_day(day)
    days_off = tuple(sim.pending_off)
    if not working:
        sim.days[day] = Duty(company_id, day, None, None, (), False, f"no duty: {why}", why, days_off)
        sim.pending_off.append((day, why))
        return
    sim.pending_off = []
    agents = rota.company(company_id).agents
    queue = sorted(agents, key=lambda a: sim.last[a.employee_no])
    skipped: list[tuple[Agent, str]] = []
    on_duty: Agent | None = None
    for agent in queue:
        leave = rota.on_leave(agent, day)
        if leave is None:
            on_duty = agent
            break
        skipped.append((agent, leave))
    turn_of = queue[0]
    if on_duty is None:
        reason = f"{why}: nobody on duty, every agent is on leave"
        standby: tuple[Agent, ...] = ()
    else:
        sim.last[on_duty.employee_no] = sim.ordinal
        standby = tuple(a for a in queue if a is not on_duty and rota.on_leave(a, day) is None)
        if skipped:
            who = "; ".join(f"{a} skipped ({r})" for a, r in skipped)
            reason = f"{why}: turn of {turn_of}; {who}; {on_duty} is next in order and takes the day"
        else:
            reason = f"{why}: turn of {on_duty}"
    sim.days[day] = Duty(company_id, day, on_duty, turn_of, tuple(skipped), True, reason, why, days_off,
                         standby, sim.ordinal)
    sim.ordinal += 1


def duty(rota: Rota, company_id: str, day: date) -> Duty:
    """Who is on duty for the company on that local day, and why. KeyError for an unknown company."""
    rota.company(company_id)
    start = rota.start_of(company_id)
    if day < start:
        working, why = rota.is_working_day(day)
        return Duty(company_id, day, None, None, (), working,
                    f"no duty: before the rota's start on {start}", why)
    sim = _sim(rota, company_id)
    while sim.next_day <= day:
        _step(rota, company_id, sim)
    return sim.days[day]


def duties(rota: Rota, day: date) -> list[Duty]:
    """Every company's duty for the day, in round order."""
    return [duty(rota, company_id, day) for members in rota.round_ids for company_id in members]
