"""The monthly operations report (运营管理报告, rules §4): per company and per agent, each figure
against its standard, with every miss listed so its reasons can be analysed.

The figures are defined in `kpi.py`; this module puts the four GROUP BY results together and
prints them as a table, CSV or JSON (HTML: `html.py`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from pbx_bridge.reports.agent_time import AgentTime, agent_time
from pbx_bridge.reports.agent_time import csv_rows as agent_time_csv
from pbx_bridge.reports.agent_time import table_lines as agent_time_lines
from pbx_bridge.reports import callbacks as callback_report
from pbx_bridge.reports import threats as threat_report
from pbx_bridge.reports import escalation as escalation_report
from pbx_bridge.reports import qa as quality_report
from pbx_bridge.reports import incidents as incident_report
from pbx_bridge.reports import from_rollups
from pbx_bridge.reports.kpi import (
    OUTBOUND_NOTE,
    Counts,
    Figure,
    agent_calls_query,
    agent_offers_query,
    as_date,
    as_day_half,
    call_figures,
    calls_by_bucket_query,
    outbound_figure,
    outbound_query,
    repeat_answered_query,
    repeat_callers_query,
    rnd,
    share,
)
from pbx_bridge.reports.ring_twice import OfferCounts, within_two_rings_limit_s
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import utc_bounds


@dataclass
class CompanyLine:
    company: str
    counts: Counts = field(default_factory=Counts)
    offers: OfferCounts = field(default_factory=OfferCounts)
    figures: list[Figure] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"company": self.company, **self.counts.as_dict(), "ring_twice": rnd(self.offers.ring_twice),
                "offers": self.offers.offers, "missed_offers": self.offers.missed,
                "figures": [f.as_dict() for f in self.figures],
                "misses": [f.key for f in self.figures if f.missed]}


@dataclass
class AgentLine:
    company: str
    agent: str
    calls_answered: int = 0
    talk_sum: float = 0.0
    talk_n: int = 0
    ended_first: int = 0
    outbound_placed: int = 0
    outbound_answered: int = 0
    outbound_days: int = 0
    offers: OfferCounts = field(default_factory=OfferCounts)
    figures: list[Figure] = field(default_factory=list)

    @property
    def aht_s(self) -> float | None:
        return None if not self.talk_n else self.talk_sum / self.talk_n

    @property
    def outbound_per_day(self) -> float | None:
        return None if not self.outbound_days else self.outbound_placed / self.outbound_days

    @property
    def answer_rate(self) -> float | None:
        """Of the offers the agent's phone could answer (answered or rang out), the share answered."""
        return share(self.offers.answered, self.offers.offers)

    def as_dict(self) -> dict:
        return {"company": self.company, "agent": self.agent, "offers": self.offers.offers,
                "offers_answered": self.offers.answered, "answer_rate": rnd(self.answer_rate),
                "within_two_rings": self.offers.within_two_rings, "ring_twice": rnd(self.offers.ring_twice),
                "rings_per_offer": rnd(share(self.offers.rings, self.offers.offers), 2),
                "missed": self.offers.missed, "calls_answered": self.calls_answered, "aht_s": rnd(self.aht_s, 1),
                "agent_ended_first": self.ended_first, "outbound_placed": self.outbound_placed,
                "outbound_answered": self.outbound_answered, "outbound_days": self.outbound_days,
                "outbound_per_day": rnd(self.outbound_per_day, 2),
                "figures": [f.as_dict() for f in self.figures], "misses": [f.key for f in self.figures if f.missed]}


@dataclass
class Monthly:
    first: date
    last: date
    timezone: str
    threshold_s: float
    two_rings_s: float
    total: CompanyLine
    companies: list[CompanyLine]
    agents: list[AgentLine]
    by_day: dict[date, Counts]
    by_half_hour: list[Counts]  # 48, all companies
    by_half_hour_company: dict[str, list[Counts]]
    repeat_callers: list[dict]
    notes: list[str]
    targets: dict
    repeat_calls: int = 3
    agent_time: list[AgentTime] = field(default_factory=list)
    callbacks: list = field(default_factory=list)  # reports/callbacks.py CallbackLine
    threats: list = field(default_factory=list)  # reports/threats.py ThreatLine
    escalation: list = field(default_factory=list)  # reports/escalation.py EscalationLine
    quality: quality_report.Quality | None = None  # reports/qa.py: service quality from call monitoring
    incidents: list = field(default_factory=list)  # reports/incidents.py IncidentLine

    @property
    def by_hour(self) -> list[Counts]:
        hours = [Counts() for _ in range(24)]
        for i, c in enumerate(self.by_half_hour):
            hours[i // 2].merge(c)
        return hours

    def misses(self) -> list[str]:
        """Every figure that missed its standard, one line each (rules §4: shown so it can be analysed)."""
        out = []
        for line in [self.total, *self.companies]:
            out += [f"company {line.company}: {f.label} {fmt(f)} (target {fmt_target(f)})" for f in line.figures
                    if f.missed]
        for a in self.agents:
            out += [f"agent {a.agent} ({a.company}): {f.label} {fmt(f)} (target {fmt_target(f)})" for f in a.figures
                    if f.missed]
        limit = self.targets["abandon_rate"]
        for i, c in enumerate(self.by_half_hour):
            if c.abandon_rate is not None and c.abandon_rate > limit:
                out.append(f"half-hour {half_hour_label(i)}: abandon rate {c.abandon_rate:.1%} "
                           f"({c.abandoned}/{c.offered}, target ≤ {limit:.0%})")
        return out

    def as_dict(self) -> dict:
        return {
            "period": {"from": self.first.isoformat(), "to": self.last.isoformat(), "timezone": self.timezone},
            "timely_threshold_s": self.threshold_s, "two_rings_s": self.two_rings_s, "targets": self.targets,
            "total": self.total.as_dict(), "companies": [c.as_dict() for c in self.companies],
            "agents": [a.as_dict() for a in self.agents],
            "abandon_by_half_hour": [
                {"half_hour": half_hour_label(i), "offered": c.offered, "abandoned": c.abandoned,
                 "abandon_rate": rnd(c.abandon_rate),
                 "missed": c.abandon_rate is not None and c.abandon_rate > self.targets["abandon_rate"],
                 "by_company": {k: {"offered": v[i].offered, "abandoned": v[i].abandoned}
                                for k, v in self.by_half_hour_company.items() if v[i].offered}}
                for i, c in enumerate(self.by_half_hour)],
            "by_day": [{"day": d.isoformat(), **c.as_dict()} for d, c in sorted(self.by_day.items())],
            "repeat_callers": self.repeat_callers,
            "agent_time": [a.as_dict() for a in self.agent_time],
            "callbacks": [c.as_dict() for c in self.callbacks],
            "threats": [t.as_dict() for t in self.threats],
            "escalation": [e.as_dict() for e in self.escalation],
            "quality": self.quality.as_dict() if self.quality is not None else {"companies": [], "agents": []},
            "incidents": [i.as_dict() for i in self.incidents],
            "notes": self.notes,
            "misses": self.misses(),
        }


def half_hour_label(i: int) -> str:
    return f"{i // 2:02d}:{30 * (i % 2):02d}"


def fmt(f: Figure) -> str:
    if f.value is None:
        return f.note or "-"
    return f"{f.value:.1f} s" if f.unit == "s" else (f"{f.value:.1%}" if f.unit == "share" else f"{f.value:.1f}")


def fmt_target(f: Figure) -> str:
    if f.target is None:
        return "none"
    sign = "≥" if f.better == "higher" else "≤"
    return f"{sign} {f.target:g} s" if f.unit == "s" else (
        f"{sign} {f.target:.0%}" if f.unit == "share" else f"{sign} {f.target:g}")


def build_monthly(bucket_rows: Iterable, agent_call_rows: Iterable, agent_offer_rows: Iterable,
                  repeat_rows: Iterable, outbound_rows: Iterable, repeat_answered_rows: Iterable, first: date,
                  last: date, tz: ZoneInfo, settings: ReportsConfig, two_rings: float,
                  half_rows: Iterable | None = None) -> Monthly:
    """The report from the rows of the GROUP BY queries in `kpi` (no database access here). With
    `half_rows` (per half-hour of the day and queue), `bucket_rows` count only per day and queue."""
    company_of = settings.company_of
    companies: dict[str, CompanyLine] = {}
    total = CompanyLine("(all)")
    by_day: dict[date, Counts] = {first + timedelta(days=i): Counts() for i in range((last - first).days + 1)}
    by_half = [Counts() for _ in range(48)]
    by_half_company: dict[str, list[Counts]] = {}
    def company_line(queue: str) -> str:
        company = company_of(queue)
        if company not in companies:  # not setdefault: its default would be built for every row
            companies[company] = CompanyLine(company)
            by_half_company[company] = [Counts() for _ in range(48)]
        return company

    for row in bucket_rows:
        day, half = as_day_half(row.slot)
        company = company_line(row.queue)
        companies[company].counts.add(row)
        total.counts.add(row)
        if day not in by_day:
            by_day[day] = Counts()
        by_day[day].add(row)
        if half_rows is None:
            by_half[half].add(row)
            by_half_company[company][half].add(row)
    for row in half_rows or ():  # the month by half-hour of the day, apart (the rollups give both)
        company = company_line(row.queue)
        by_half[row.slot % 48].add(row)
        by_half_company[company][row.slot % 48].add(row)
    agents: dict[tuple[str, str], AgentLine] = {}
    for row in agent_call_rows:
        key = (company_of(row.queue), row.agent or "?")
        line = agents.setdefault(key, AgentLine(*key))
        line.calls_answered += row.calls_answered
        line.talk_sum += float(row.talk_sum or 0)
        line.talk_n += int(row.talk_n or 0)
        line.ended_first += int(row.ended_first or 0)
    for row in agent_offer_rows:
        key = (company_of(row.queue), row.agent or "?")
        agents.setdefault(key, AgentLine(*key)).offers.add(row)
        companies.setdefault(key[0], CompanyLine(key[0])).offers.add(row)
        total.offers.add(row)
    outbound: dict[str, list[int]] = {}  # agent -> [placed, answered, days]
    for row in outbound_rows:
        entry = outbound.setdefault(row.agent, [0, 0, 0])
        entry[0] += int(row.placed)
        entry[1] += int(row.answered or 0)
        entry[2] += 1
    for (_company, agent), line in agents.items():  # an agent-level figure, on each of the agent's lines
        placed, answered_out, days = outbound.pop(agent, (0, 0, 0))
        line.outbound_placed, line.outbound_answered, line.outbound_days = placed, answered_out, days
    for agent, (placed, answered_out, days) in outbound.items():  # placed calls, took no queued call
        agents[("-", agent)] = AgentLine("-", agent, outbound_placed=placed, outbound_answered=answered_out,
                                         outbound_days=days)
    for line in [total, *companies.values()]:
        line.figures = call_figures(line.counts, settings, line.offers.ring_twice)
    t = settings.targets
    for a in agents.values():
        a.figures = [
            Figure("answer_rate", "offers answered", a.answer_rate, t.answer_rate, "higher"),
            Figure("ring_twice", "answered within two rings", a.offers.ring_twice, t.ring_twice, "higher"),
            Figure("aht_s", "average handling time 平均处理时长", a.aht_s, t.aht_s, "lower", "s"),
            outbound_figure(settings, a.outbound_per_day),
        ]
    answered_later = {(as_date(r.day), r.company, r.caller_num): int(r.answered) for r in repeat_answered_rows}
    repeat = sorted(({"day": as_date(r.day).isoformat(), "company": r.company, "caller_num": r.caller_num,
                      "unanswered": int(r.unanswered),
                      "answered_later": answered_later.get((as_date(r.day), r.company, r.caller_num), 0)}
                     for r in repeat_rows),
                    key=lambda r: (r["day"], r["company"], -r["unanswered"], r["caller_num"]))
    notes = [OUTBOUND_NOTE,
             "calls still waiting when the report was made are not counted (a call is recorded when it ends)"]
    return Monthly(first, last, tz.key, settings.timely_threshold_s, two_rings, total,
                   [companies[k] for k in sorted(companies)], [agents[k] for k in sorted(agents)], by_day, by_half,
                   dict(sorted(by_half_company.items())), repeat, notes, t.model_dump(),
                   settings.repeat_caller_calls)


def rollups_usable(conn, tz: ZoneInfo, settings: ReportsConfig, two_rings: float, pbx: str | None) -> bool:
    """The rollups were built with this report's time zone and thresholds (from_rollups.usable)."""
    return from_rollups.usable(conn.execute(from_rollups.state_query()).all(), tz, float(settings.timely_threshold_s),
                               within_two_rings_limit_s(two_rings), pbx)


def monthly(engine, first: date, last: date, tz: ZoneInfo, settings: ReportsConfig, two_rings: float,
            pbx: str | None = None, source: str = "auto") -> Monthly:
    """The monthly operations report (rules §4) for the local days first..last, on a sync engine.
    `source`: "rollups" or "raw" rows; "auto" reads the rollups when they match the settings."""
    start, end = utc_bounds(first, last, tz)
    dialect = engine.dialect.name
    with engine.connect() as conn:
        states = conn.execute(from_rollups.state_query()).all()
        if source == "auto":
            source = "rollups" if from_rollups.usable(states, tz, float(settings.timely_threshold_s),
                                                      within_two_rings_limit_s(two_rings), pbx) else "raw"
        if source == "rollups":
            half_rows = from_rollups.buckets(conn.execute(from_rollups.halves_query(first, last, pbx)).all())
            rows = [from_rollups.buckets(conn.execute(from_rollups.days_query(first, last, pbx)).all()),
                    conn.execute(from_rollups.agent_calls_query(first, last, pbx)).all(),
                    conn.execute(from_rollups.agent_offers_query(first, last, pbx)).all()]
            pbxs = len([s for s in states if pbx is None or s.pbx == pbx])
            candidates = sorted(conn.execute(from_rollups.repeat_candidates_query(
                first, last, settings.repeat_caller_calls, pbx, pbxs)).scalars())
            repeat = []
            for i in range(0, len(candidates), 500):
                repeat += conn.execute(repeat_callers_query(dialect, tz, start, end, settings, pbx,
                                                            candidates[i:i + 500])).all()
            rows.append(repeat)
        else:
            half_rows = None
            rows = [conn.execute(q).all() for q in (
                calls_by_bucket_query(dialect, tz, start, end, settings, pbx),
                agent_calls_query(dialect, start, end, pbx),
                agent_offers_query(dialect, start, end, two_rings, pbx),
                repeat_callers_query(dialect, tz, start, end, settings, pbx))]
        rows.append(conn.execute(outbound_query(dialect, tz, start, end, pbx)).all())
        numbers = sorted({r.caller_num for r in rows[3]})
        answered = []
        for i in range(0, len(numbers), 500):
            answered += conn.execute(repeat_answered_query(dialect, tz, start, end, settings, numbers[i:i + 500],
                                                           pbx)).all()
        report = build_monthly(*rows, answered, first, last, tz, settings, two_rings, half_rows)
        report.agent_time = agent_time(conn, start, end, pbx)
        report.callbacks = callback_report.lines(conn, start, end, settings, pbx)
        report.threats = threat_report.lines(conn, start, end, settings, tz, pbx)
        report.escalation = escalation_report.lines(conn, start, end, settings, pbx)
        report.quality = quality_report.quality(conn, start, end, settings, pbx)
        report.incidents = incident_report.lines(conn, start, end, pbx)
    if report.callbacks:
        report.notes.append(callback_report.NOTE)
    if report.threats:
        report.notes.append(threat_report.NOTE)
    if report.escalation:
        report.notes.append(escalation_report.NOTE)
    if report.quality:
        report.notes.append(quality_report.NOTE)
    if report.incidents:
        report.notes.append(incident_report.NOTE)
    return report




def month_bounds(month: str) -> tuple[date, date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    year, mon = (int(p) for p in month.split("-"))
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last:%Y-%m}"


# --- presentation ---------------------------------------------------------------------------------

def _cell(f: Figure) -> str:
    return fmt(f) + (" *" if f.missed else "")


def _columns(headers: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(headers)]
    return ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()] + [
        "  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]


def as_table(m: Monthly, repeat_limit: int = 20) -> str:
    out = [(f"Monthly operations report {m.first} – {m.last} ({m.timezone}); timely = answered within "
            f"{m.threshold_s:g} s; two rings = {m.two_rings_s:g} s; * = missed its target"), ""]
    heads = ("company", "offered", "answered", "abandoned", "timeouts", "answer rate", "timely", "AHT",
             "ring-twice", "abandon rate")
    body = []
    for line in [*m.companies, m.total]:
        f = {x.key: x for x in line.figures}
        c = line.counts
        body.append((line.company, str(c.offered), str(c.answered), str(c.abandoned), str(c.timeouts),
                     _cell(f["answer_rate"]), _cell(f["timely_rate"]), _cell(f["aht_s"]), _cell(f["ring_twice"]),
                     _cell(f["abandon_rate"])))
    out += ["Per company"] + _columns(heads, body) + [""]
    heads = ("company", "agent", "offers", "answered", "answer rate", "ring-twice", "missed", "calls", "AHT",
             "ended first", "outbound/day")
    body = []
    for a in m.agents:
        f = {x.key: x for x in a.figures}
        body.append((a.company, a.agent, str(a.offers.offers), str(a.offers.answered), _cell(f["answer_rate"]),
                     _cell(f["ring_twice"]), str(a.offers.missed), str(a.calls_answered), _cell(f["aht_s"]),
                     str(a.ended_first), _cell(f["outbound_per_day"])))
    out += ["Per agent"] + (_columns(heads, body) if body else ["(no agents)"]) + [""]
    limit = m.targets["abandon_rate"]
    body = [(half_hour_label(i), str(c.offered), str(c.abandoned),
             "-" if c.abandon_rate is None else f"{c.abandon_rate:.1%}" + (" *" if c.abandon_rate > limit else ""))
            for i, c in enumerate(m.by_half_hour) if c.offered]
    out += [f"Abandon rate by half-hour of the day (target ≤ {limit:.0%})"]
    out += _columns(("from", "offered", "abandoned", "abandon rate"), body) if body else ["(no calls)"]
    out += ["", f"Repeat callers (≥ {m.repeat_calls} unanswered calls in one day): {len(m.repeat_callers)}"]
    if m.repeat_callers:
        body = [(r["day"], r["company"], r["caller_num"], str(r["unanswered"]), str(r["answered_later"]))
                for r in m.repeat_callers[:repeat_limit]]
        out += _columns(("day", "company", "number", "unanswered", "answered"), body)
        if len(m.repeat_callers) > repeat_limit:
            out.append(f"... and {len(m.repeat_callers) - repeat_limit} more (--format csv or json lists them all)")
    out += ["", *agent_time_lines(m.agent_time)]
    heads, body = callback_report.table_rows(m.callbacks)
    out += ["", "Callbacks (pressed 1 to be called back)"] + (_columns(heads, body) if body else ["(none)"])
    heads, body = threat_report.table_rows(m.threats)
    out += ["", "Threatening calls 恐吓电话 (*8)"] + (_columns(heads, body) if body else ["(none)"])
    heads, body = escalation_report.table_rows(m.escalation)
    out += ["", "Escalation (when calls piled up)"] + (_columns(heads, body) if body else ["(none)"])
    if m.quality is not None:
        heads, body = quality_report.table_rows(m.quality)
        out += ["", "Service quality (call monitoring, score 1-5)"] + (_columns(heads, body) if body else ["(none)"])
    heads, body = incident_report.table_rows(m.incidents)
    out += ["", "Incidents (rules §8)"] + (_columns(heads, body) if body else ["(none)"])
    misses = m.misses()
    out += ["", f"Figures that missed their standard: {len(misses)}"] + [f"- {x}" for x in misses]
    out += ["", "Notes"] + [f"- {n}" for n in m.notes]
    return "\n".join(out)


CSV_FIELDS = ("section", "company", "agent", "period", "figure", "value", "target", "met", "count", "of")


def csv_rows(m: Monthly) -> Iterable[dict]:
    """Long form: one figure a row, so a spreadsheet can filter and pivot it."""
    for line in [*m.companies, m.total]:
        c = line.counts
        for f in line.figures:
            yield {"section": "company", "company": line.company, "figure": f.key, "value": rnd(f.value),
                   "target": f.target, "met": f.met}
        for name in ("offered", "answered", "timely", "abandoned", "timeouts"):
            yield {"section": "company", "company": line.company, "figure": name, "count": getattr(c, name)}
    for a in m.agents:
        for f in a.figures:
            yield {"section": "agent", "company": a.company, "agent": a.agent, "figure": f.key, "value": rnd(f.value),
                   "target": f.target, "met": f.met}
        yield {"section": "agent", "company": a.company, "agent": a.agent, "figure": "calls_answered",
               "count": a.calls_answered}
    limit = m.targets["abandon_rate"]
    for i, c in enumerate(m.by_half_hour):
        yield {"section": "half_hour", "company": "(all)", "period": half_hour_label(i), "figure": "abandon_rate",
               "value": rnd(c.abandon_rate), "target": limit,
               "met": None if c.abandon_rate is None else c.abandon_rate <= limit, "count": c.abandoned, "of": c.offered}
    for day, c in sorted(m.by_day.items()):
        yield {"section": "day", "company": "(all)", "period": day.isoformat(), "figure": "timely_rate",
               "value": rnd(c.timely_rate), "target": m.targets["timely_rate"],
               "met": None if c.timely_rate is None else c.timely_rate >= m.targets["timely_rate"],
               "count": c.timely, "of": c.offered}
    for r in m.repeat_callers:
        yield {"section": "repeat_caller", "company": r["company"], "period": r["day"], "figure": r["caller_num"],
               "count": r["unanswered"], "of": r["unanswered"] + r["answered_later"]}
    yield from agent_time_csv(m.agent_time)
    yield from callback_report.csv_rows(m.callbacks)
    yield from threat_report.csv_rows(m.threats)
    yield from escalation_report.csv_rows(m.escalation)
    if m.quality is not None:
        yield from quality_report.csv_rows(m.quality)
    yield from incident_report.csv_rows(m.incidents)


def as_csv(m: Monthly) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(m))
    return buf.getvalue()
