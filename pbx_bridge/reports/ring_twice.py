"""Ring-twice compliance per agent (rules §1): the share of offers answered within two rings,
rings per offer, misses, and calls the agent ended before the caller.

Which offers count: those the agent's phone could answer and either did or rang out on
(`answered`, `no-answer`). A ring cut short by the caller leaving or another agent answering, a
busy phone and an unreachable one say nothing about the agent's promptness and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from pbx_bridge.reports import from_rollups
from pbx_bridge.store.days import db_bound, utc_bounds
from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.ring import RING_JITTER_S, RingConfig, two_rings_s, within_two_rings_limit_s  # noqa: F401 - re-exported

COUNTED = ("answered", "no-answer")


@dataclass
class OfferCounts:
    """An agent's counted offers (COUNTED) over some group: the one definition of the ring-twice figures."""
    offers: int = 0
    answered: int = 0
    within_two_rings: int = 0
    rings: int = 0
    missed: int = 0

    def add(self, row) -> None:
        """Add a GROUP BY row of `kpi.agent_offers_query`."""
        self.offers += row.offers
        self.answered += int(row.answered or 0)
        self.within_two_rings += int(row.within_two_rings or 0)
        self.rings += int(row.rings or 0)
        self.missed += int(row.missed or 0)

    def count(self, result: str, ring_s: float | None, rings: int | None, limit_s: float) -> None:
        """Add one offer row (result in COUNTED)."""
        self.offers += 1
        self.rings += rings or 0
        if result == "answered":
            self.answered += 1
            if ring_s is not None and ring_s <= limit_s:
                self.within_two_rings += 1
        else:
            self.missed += 1

    @property
    def ring_twice(self) -> float | None:
        return None if not self.offers else self.within_two_rings / self.offers

    @property
    def rings_per_offer(self) -> float | None:
        return None if not self.offers else self.rings / self.offers


@dataclass
class PeriodLine(OfferCounts):
    """One agent's offers and answered calls in one day or month (the per-company line is
    `monthly.AgentLine`, which holds an OfferCounts of its own)."""
    period: str = ""
    agent: str = ""
    ended_first: int = 0
    calls_answered: int = 0

    def as_dict(self) -> dict:
        return {
            "period": self.period, "agent": self.agent, "offers": self.offers, "answered": self.answered,
            "within_two_rings": self.within_two_rings,
            "share_within_two_rings": None if self.ring_twice is None else round(self.ring_twice, 4),
            "rings_per_offer": None if self.rings_per_offer is None else round(self.rings_per_offer, 2),
            "missed": self.missed, "calls_answered": self.calls_answered, "agent_ended_first": self.ended_first,
        }


def _period(moment, tz: ZoneInfo, by: str) -> str:
    local = moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    return local.strftime("%Y-%m" if by == "month" else "%Y-%m-%d")


def _from_rollups(conn, first: date, last: date, by: str, pbx: str | None) -> list[PeriodLine]:
    lines: dict[tuple[str, str], PeriodLine] = {}

    def line(day, agent) -> PeriodLine:
        day = from_rollups.as_day(day)
        key = (day.strftime("%Y-%m" if by == "month" else "%Y-%m-%d"), agent or "?")
        if key not in lines:
            lines[key] = PeriodLine(period=key[0], agent=key[1])
        return lines[key]

    for row in conn.execute(from_rollups.compliance_offers_query(first, last, pbx)):
        line(row.day, row.agent).add(row)
    for row in conn.execute(from_rollups.compliance_calls_query(first, last, pbx)):
        entry = line(row.day, row.agent)
        entry.calls_answered += int(row.calls_answered)
        entry.ended_first += int(row.ended_first)
    return [lines[key] for key in sorted(lines)]


def compliance(engine: Engine, first: date, last: date, tz: ZoneInfo, ring: RingConfig, by: str = "day",
               pbx: str | None = None, source: str = "auto") -> list[PeriodLine]:
    """Per (day or month, agent). `source`: "rollups", "raw" or "auto" (the rollups when they match)."""
    limit = within_two_rings_limit_s(two_rings_s(ring))
    start, end = (db_bound(b, engine.dialect.name) for b in utc_bounds(first, last, tz))
    lines: dict[tuple[str, str], PeriodLine] = {}

    def line(moment, agent) -> PeriodLine:
        key = (_period(moment, tz, by), agent or "?")
        if key not in lines:
            lines[key] = PeriodLine(period=key[0], agent=key[1])
        return lines[key]

    offer_query = select(offers.c.offered_at, offers.c.agent, offers.c.ring_s, offers.c.rings, offers.c.result).where(
        offers.c.offered_at >= start, offers.c.offered_at < end, offers.c.result.in_(COUNTED))
    call_query = select(calls.c.joined_at, calls.c.agent, calls.c.ended_by).where(
        calls.c.joined_at >= start, calls.c.joined_at < end, calls.c.outcome.in_(("answered", "transferred")))
    if pbx is not None:
        offer_query = offer_query.where(offers.c.pbx == pbx)
        call_query = call_query.where(calls.c.pbx == pbx)
    with engine.connect() as conn:
        states = conn.execute(from_rollups.state_query()).all()
        if source == "rollups" or (source == "auto" and from_rollups.usable(states, tz, None, limit, pbx)):
            return _from_rollups(conn, first, last, by, pbx)
        for offered_at, agent, ring_s, rings, result in conn.execute(offer_query):
            line(offered_at, agent).count(result, ring_s, rings, limit)
        for joined_at, agent, ended_by in conn.execute(call_query):
            entry = line(joined_at, agent)
            entry.calls_answered += 1
            if ended_by == "agent":
                entry.ended_first += 1
    return [lines[key] for key in sorted(lines)]


HEADERS = ("period", "agent", "offers", "answered", "within 2 rings", "share", "rings/offer", "missed",
           "calls", "agent ended first")


def as_table(rows: list[PeriodLine], two_rings: float) -> str:
    def pct(value):
        return "-" if value is None else f"{value:.0%}"

    body = [(r.period, r.agent, str(r.offers), str(r.answered), str(r.within_two_rings), pct(r.ring_twice),
             "-" if r.rings_per_offer is None else f"{r.rings_per_offer:.2f}", str(r.missed), str(r.calls_answered),
             str(r.ended_first)) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    out = [f"Ring-twice compliance (two rings = {two_rings:g} s)",
           "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    if not body:
        out.append("(no offers in this period)")
    return "\n".join(out)
