"""The voicemail rota as data: companies, rounds, listening times, agents, leave, shifts, calendar.

Every model is frozen and refuses unknown keys. Checks that span the document (a company in two
rounds, an agent in two companies, leave for somebody unknown, ...) are in `Rota`'s validator and
raise `At(message, loc)` so the error line points at the offending key (see `yaml_errors`).
The rota never holds a PIN, only its argon2 hash (`pbx-bridge rota hash-pin`).
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, field_validator, model_validator

from pbx_bridge.rota.calendar import is_working_day
from pbx_bridge.rota.values import (  # noqa: F401 - re-exported: the rota's public names
    _EMPLOYEE_NO,
    MAX_LISTED_DAYS,
    _as_date,
    _dates,
    employee_sort_key,
    hash_pin,
    parse_hhmm,
    parse_span,
    verify_pin,
)
from pbx_bridge.settings import Strict, ZoneName
from pbx_bridge.yaml_errors import At

_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_QUEUE = r"^[A-Za-z0-9_.-]{1,80}$"


class Shift(Strict):
    start: time
    end: time

    @classmethod
    def parse(cls, value: Any) -> "Shift":
        if isinstance(value, Shift):
            return value
        if not isinstance(value, str) or value.count("-") != 1:
            raise ValueError(f"{value!r} is not a shift HH:MM-HH:MM, e.g. \"08:00-17:00\"")
        start, end = (parse_hhmm(part) for part in value.split("-"))
        if end <= start:
            raise ValueError(f"the shift {value} ends before it starts")
        return cls(start=start, end=end)

    def holds(self, at: time) -> bool:
        """A listening is held if it falls in the shift: start <= at < end."""
        return self.start <= at < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class Agent(Strict):
    employee_no: str = Field(description="工号; sorts numerically")
    name: str = Field(min_length=1)
    endpoint: str = Field(pattern=r"^[A-Za-z0-9_]+/\S+$", description="Asterisk dial string, e.g. PJSIP/agent301")
    pin_hash: str = Field(repr=False, description="argon2 hash of the phone-menu PIN")
    shift: str | None = Field(default=None, description="a key of `shifts`; default: the company's")
    queues: tuple[Annotated[str, Field(pattern=_QUEUE)], ...] | None = Field(
        default=None, description="queues joined at log-in; default: the company's")

    @field_validator("employee_no", mode="before")
    @classmethod
    def _employee_no(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not _EMPLOYEE_NO.match(value):
            raise ValueError(f"{value!r} is not an employee number (digits, letters, '-')")
        return value

    @field_validator("pin_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        from argon2 import extract_parameters
        from argon2.exceptions import InvalidHashError

        try:
            extract_parameters(value)
        except (InvalidHashError, ValueError):
            raise ValueError("not an argon2 hash: make one with `pbx-bridge rota hash-pin`, never write the PIN") from None
        return value

    @property
    def sort_key(self) -> tuple:
        return employee_sort_key(self.employee_no)

    def verify_pin(self, pin: str) -> bool:
        return verify_pin(self.pin_hash, pin)

    def __str__(self) -> str:
        return f"{self.employee_no} {self.name}"


class Company(Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    mailboxes: tuple[str, ...] = Field(min_length=1, description="app_voicemail boxes: 8001@default")
    shift: str | None = Field(default=None, description="a key of `shifts`, for agents that name none")
    start: date | None = Field(default=None, description="this company's anchor; default: the rota's")
    first: str | None = Field(default=None, description="the 工号 on duty on the first working day from the anchor")
    queues: tuple[Annotated[str, Field(pattern=_QUEUE)], ...] | None = Field(
        default=None, description="queues its agents join at log-in; default: agents.default_queues")
    agents: tuple[Agent, ...] = Field(min_length=1)

    @field_validator("mailboxes", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        value = [value] if isinstance(value, (str, int)) else value
        if isinstance(value, list):
            for i, box in enumerate(value):
                if not isinstance(box, (str, int)) or not re.match(r"^[0-9A-Za-z_-]+(@[0-9A-Za-z_-]+)?$", str(box)):
                    raise At(f"{box!r} is not a mailbox like 8001@default", (i,))
            value = [str(box) if "@" in str(box) else f"{box}@default" for box in value]
        return value

    @field_validator("first", mode="before")
    @classmethod
    def _first_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> date | None:
        return None if value is None else _as_date(value)

    @cached_property
    def ordered(self) -> tuple[Agent, ...]:
        """The agents in employee-number order, starting at `first` if set."""
        agents = sorted(self.agents, key=lambda a: a.sort_key)
        if self.first is not None:
            at = next(i for i, a in enumerate(agents) if a.sort_key == employee_sort_key(self.first))
            agents = agents[at:] + agents[:at]
        return tuple(agents)


class Listenings(Strict):
    first: time = Field(default=time(11, 0), description="round 1's first listening")
    count: int = Field(default=3, ge=1, le=24)
    interval_minutes: int = Field(default=120, ge=1, le=24 * 60)
    round_gap_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @field_validator("first", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> time:
        return parse_hhmm(value)

    def offset(self, round_no: int, index: int) -> timedelta:
        """From midnight: round r (1-based), listening i (1-based)."""
        return (timedelta(hours=self.first.hour, minutes=self.first.minute, seconds=self.first.second)
                + timedelta(minutes=(index - 1) * self.interval_minutes + (round_no - 1) * self.round_gap_minutes))


class Calendar(Strict):
    kind: Literal["china", "weekdays"] = Field(
        default="china", description="china: official holidays and 调休 working weekend days; weekdays: Mon-Fri")
    extra_workdays: tuple[date, ...] = ()
    extra_holidays: tuple[date, ...] = ()

    @field_validator("extra_workdays", "extra_holidays", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if value is None:
            return ()
        days: list[date] = []
        for first, last in _dates(value):
            days.extend(first + timedelta(n) for n in range((last - first).days + 1))
            if len(days) > MAX_LISTED_DAYS:
                raise ValueError(f"more than {MAX_LISTED_DAYS} days listed: list only the days that differ "
                                 "from the calendar")
        return tuple(days)

    @model_validator(mode="after")
    def _not_both(self) -> "Calendar":
        both = set(self.extra_workdays) & set(self.extra_holidays)
        if both:
            raise At(f"{min(both)} is also in extra_workdays", ("extra_holidays",))
        return self


class Leave(Strict):
    agent: str = Field(description="工号")
    company: str | None = None
    dates: tuple[tuple[date, date], ...] = Field(min_length=1)
    note: str | None = None

    @field_validator("agent", mode="before")
    @classmethod
    def _agent_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("dates", mode="before")
    @classmethod
    def _spans(cls, value: Any) -> Any:
        return _dates(value)


class Rota(Strict):
    start: date = Field(description="anchor: the turn counts working days from here")
    timezone: ZoneName = "Asia/Shanghai"
    calendar: Calendar = Calendar()
    listenings: Listenings = Listenings()
    shifts: dict[str, Shift] = Field(default_factory=dict)
    round_size: int = Field(default=4, ge=1, le=100, description="used only when `rounds` is omitted")
    rounds: tuple[tuple[str, ...], ...] | None = None
    companies: tuple[Company, ...] = Field(min_length=1)
    leave: tuple[Leave, ...] = ()

    _cache: dict = PrivateAttr(default_factory=dict)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> date:
        return _as_date(value)

    @field_validator("calendar", mode="before")
    @classmethod
    def _calendar_shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("shifts", mode="before")
    @classmethod
    def _shifts(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for name, text in value.items():
            try:
                out[str(name)] = Shift.parse(text)
            except ValueError as exc:
                raise At(str(exc), (name,)) from None
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "Rota":
        ids: dict[str, int] = {}
        for c, company in enumerate(self.companies):
            if company.id in ids:
                raise At(f"company {company.id!r} is already companies[{ids[company.id]}]", ("companies", c, "id"))
            ids[company.id] = c
            if company.shift is not None and company.shift not in self.shifts:
                raise At(f"unknown shift {company.shift!r} (shifts: {', '.join(self.shifts) or 'none'})",
                         ("companies", c, "shift"))
        self._check_agents()
        self._check_rounds(ids)
        self._check_leave()
        last = self.listenings.offset(len(self.round_ids), self.listenings.count)
        if last >= timedelta(days=1):
            raise At(f"the last round's last listening would be at {last} after midnight: fewer listenings, "
                     "a shorter interval or an earlier first time", ("listenings",))
        return self

    def _check_agents(self) -> None:
        seen: dict[tuple, tuple[int, int]] = {}
        endpoints: dict[str, tuple[int, int]] = {}
        for c, company in enumerate(self.companies):
            for a, agent in enumerate(company.agents):
                where = ("companies", c, "agents", a)
                if agent.sort_key in seen:
                    c0, a0 = seen[agent.sort_key]
                    if c0 == c:
                        raise At(f"duplicate employee number {agent.employee_no!r}: also companies[{c0}].agents[{a0}]",
                                 where + ("employee_no",))
                    raise At(f"agent {agent.employee_no!r} is in two companies: also in {self.companies[c0].id!r} "
                             f"(companies[{c0}].agents[{a0}])", where + ("employee_no",))
                seen[agent.sort_key] = (c, a)
                if agent.endpoint in endpoints:
                    c0, a0 = endpoints[agent.endpoint]
                    raise At(f"endpoint {agent.endpoint} is already companies[{c0}].agents[{a0}]'s", where + ("endpoint",))
                endpoints[agent.endpoint] = (c, a)
                if agent.shift is not None and agent.shift not in self.shifts:
                    raise At(f"unknown shift {agent.shift!r} (shifts: {', '.join(self.shifts) or 'none'})",
                             where + ("shift",))
            if company.first is not None and not any(
                    a.sort_key == employee_sort_key(company.first) for a in company.agents):
                raise At(f"no agent {company.first!r} in this company", ("companies", c, "first"))

    def _check_rounds(self, ids: dict[str, int]) -> None:
        if self.rounds is None:
            return
        placed: dict[str, int] = {}
        for r, members in enumerate(self.rounds):
            if not members:
                raise At("an empty round", ("rounds", r))
            for m, company_id in enumerate(members):
                if company_id not in ids:
                    raise At(f"unknown company {company_id!r}", ("rounds", r, m))
                if company_id in placed:
                    raise At(f"company {company_id!r} is in two rounds: also round {placed[company_id] + 1}",
                             ("rounds", r, m))
                placed[company_id] = r
        for company_id, c in ids.items():
            if company_id not in placed:
                raise At(f"company {company_id!r} is in no round", ("companies", c, "id"))

    def _check_leave(self) -> None:
        for i, leave in enumerate(self.leave):
            agent_company = self._agent_company_index.get(employee_sort_key(leave.agent))
            if leave.company is not None and leave.company not in {c.id for c in self.companies}:
                raise At(f"unknown company {leave.company!r}", ("leave", i, "company"))
            if agent_company is None:
                raise At(f"unknown agent {leave.agent!r} (no company has this employee number)", ("leave", i, "agent"))
            if leave.company is not None and self.companies[agent_company].id != leave.company:
                raise At(f"agent {leave.agent!r} is in company {self.companies[agent_company].id!r}, "
                         f"not {leave.company!r}", ("leave", i, "agent"))

    # -- look-ups -------------------------------------------------------------------------------

    @cached_property
    def _agent_company_index(self) -> dict[tuple, int]:
        return {a.sort_key: c for c, company in enumerate(self.companies) for a in company.agents}

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def round_ids(self) -> tuple[tuple[str, ...], ...]:
        """The rounds as written, or the companies in file order, `round_size` a round."""
        if self.rounds is not None:
            return self.rounds
        ids = [c.id for c in self.companies]
        return tuple(tuple(ids[i:i + self.round_size]) for i in range(0, len(ids), self.round_size))

    @cached_property
    def _companies(self) -> dict[str, Company]:
        return {c.id: c for c in self.companies}

    @cached_property
    def _agents(self) -> dict[tuple, Agent]:
        return {a.sort_key: a for c in self.companies for a in c.agents}

    @cached_property
    def _endpoints(self) -> dict[str, Agent]:
        return {a.endpoint: a for c in self.companies for a in c.agents}

    @cached_property
    def _mailboxes(self) -> dict[str, Company]:
        return {box: c for c in self.companies for box in c.mailboxes}

    @cached_property
    def _leave(self) -> dict[tuple, list[tuple[date, date, str | None]]]:
        out: dict[tuple, list[tuple[date, date, str | None]]] = {}
        for leave in self.leave:
            for first, last in leave.dates:
                out.setdefault(employee_sort_key(leave.agent), []).append((first, last, leave.note))
        return out

    def company(self, company_id: str) -> Company:
        """KeyError if unknown."""
        return self._companies[company_id]

    def agent(self, employee_no: str) -> Agent | None:
        return self._agents.get(employee_sort_key(employee_no))

    def agent_by_endpoint(self, endpoint: str) -> Agent | None:
        return self._endpoints.get(endpoint)

    def company_of(self, agent: Agent | str) -> Company:
        key = employee_sort_key(agent if isinstance(agent, str) else agent.employee_no)
        return self.companies[self._agent_company_index[key]]

    def company_for_mailbox(self, mailbox: str) -> Company | None:
        return self._mailboxes.get(mailbox if "@" in mailbox else f"{mailbox}@default")

    def round_of(self, company_id: str) -> int:
        """1-based."""
        for r, members in enumerate(self.round_ids, start=1):
            if company_id in members:
                return r
        raise KeyError(company_id)

    def start_of(self, company_id: str) -> date:
        return self.company(company_id).start or self.start

    def queues_of(self, agent: Agent, default: tuple[str, ...]) -> tuple[str, ...]:
        """The queues an agent joins at log-in: their own, else their company's, else the site's."""
        return agent.queues or self.company_of(agent).queues or default

    def shift_of(self, agent: Agent) -> Shift | None:
        name = agent.shift or self.company_of(agent).shift
        return self.shifts[name] if name else None

    def on_leave(self, agent: Agent | str, day: date) -> str | None:
        """None, or why: `on leave 2026-10-12..2026-10-14 (年假)`."""
        key = employee_sort_key(agent if isinstance(agent, str) else agent.employee_no)
        for first, last, note in self._leave.get(key, ()):
            if first <= day <= last:
                span = str(first) if first == last else f"{first}..{last}"
                return f"on leave {span}" + (f" ({note})" if note else "")
        return None

    def is_working_day(self, day: date) -> tuple[bool, str]:
        return is_working_day(self.calendar, day)

    @property
    def agent_count(self) -> int:
        return sum(len(c.agents) for c in self.companies)
