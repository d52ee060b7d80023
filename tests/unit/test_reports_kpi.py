"""KPI definitions, local-time bucketing (SQLite and PostgreSQL), targets and misses, repeat callers."""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.calls.outbound import OutboundRecord
from pbx_bridge.reports import intraday, kpi, monthly, ring_twice
from pbx_bridge.reports.settings import ReportsConfig, Targets
from pbx_bridge.ring import RingConfig, two_rings_s
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer
from tests.support import postgres

SH = ZoneInfo("Asia/Shanghai")
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")
NOV = (date(2026, 11, 1), date(2026, 11, 30))


def seed(url: str, records) -> None:
    upgrade(url)

    async def write() -> None:
        engine = async_engine(url)
        writer = StoreWriter(engine, batch_size=500, kinds=record_kinds())
        for record in records:
            writer.put(record)
        await writer.flush()
        await engine.dispose()

    asyncio.run(write())


def local(day: int, hh: int, mm: int, ss: float = 0, tz: ZoneInfo = SH, month: int = 11) -> datetime:
    base = datetime(2026, month, day, hh, mm, tzinfo=tz) + timedelta(seconds=ss)
    return base.astimezone(timezone.utc)


class Ids:
    n = 0

    @classmethod
    def next(cls) -> str:
        cls.n += 1
        return f"1790000000.{cls.n}"


def call(at: datetime, outcome: str = "answered", **over):
    answered = outcome in ("answered", "transferred")
    fields = {"joined_at": at, "outcome": outcome, "agent": "201" if answered else None,
              "talk_s": 60.0 if answered else None, "wait_s": 5.0}
    fields.update(over)
    return make_call(Ids.next(), **fields)


def report(url, settings=None, first_last=NOV, tz=SH):
    engine = sync_engine(url)
    try:
        return monthly.monthly(engine, *first_last, tz, settings or ReportsConfig(), two_rings_s(CN))
    finally:
        engine.dispose()


def test_half_hours_and_days_are_local(sqlite_url):
    seed(sqlite_url, [
        call(local(23, 11, 29, 59.9)),  # 11:00 slot
        call(local(23, 11, 30, 0.0), "abandoned"),  # 11:30 slot
        call(local(24, 0, 10)),  # 16:10 UTC on the 23rd, but the 24th locally
        call(local(30, 23, 59, 59.5)),  # last moment of the month
        call(local(1, 0, 0, 0), "abandoned", ),
        call(datetime(2026, 10, 31, 15, 59, 59, tzinfo=timezone.utc)),  # 23:59:59 on Oct 31 locally: not counted
        call(local(1, 0, 0, 0, month=12)),  # December: not counted
    ])
    rep = report(sqlite_url)
    assert rep.total.counts.offered == 5
    halves = {monthly.half_hour_label(i): (c.offered, c.abandoned) for i, c in enumerate(rep.by_half_hour) if c.offered}
    assert halves == {"11:00": (1, 0), "11:30": (1, 1), "00:00": (2, 1), "23:30": (1, 0)}
    days = {d.day: c.offered for d, c in rep.by_day.items() if c.offered}
    assert days == {23: 2, 24: 1, 30: 1, 1: 1}
    assert len(rep.by_day) == 30, "every day of the period has a line, calls or not"


def test_a_dst_change_inside_the_period_is_bucketed_by_local_time(sqlite_url):
    berlin = ZoneInfo("Europe/Berlin")  # 2026-03-29 02:00 CET -> 03:00 CEST
    start, end = (datetime(2026, 3, 1, tzinfo=berlin), datetime(2026, 4, 1, tzinfo=berlin))
    changes = kpi.offset_changes(berlin, start.astimezone(timezone.utc), end.astimezone(timezone.utc))
    assert [c[1] for c in changes] == [3600, 7200]
    assert changes[1][0] == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    seed(sqlite_url, [call(local(29, 1, 45, tz=berlin, month=3)), call(local(29, 3, 15, tz=berlin, month=3)),
                      call(local(30, 9, 5, tz=berlin, month=3)), call(local(28, 9, 5, tz=berlin, month=3))])
    rep = report(sqlite_url, first_last=(date(2026, 3, 1), date(2026, 3, 31)), tz=berlin)
    halves = {monthly.half_hour_label(i): c.offered for i, c in enumerate(rep.by_half_hour) if c.offered}
    assert halves == {"01:30": 1, "03:00": 1, "09:00": 2}


def test_figures_against_targets_and_every_miss_listed(sqlite_url):
    at = local(10, 10, 0)
    records = [call(at + timedelta(minutes=i), wait_s=5.0 if i < 14 else 30.0, talk_s=200.0) for i in range(18)]
    records += [call(at + timedelta(minutes=30), "abandoned"), call(at + timedelta(minutes=31), "timeout")]
    records += [call(at + timedelta(hours=3), queue="sales", talk_s=500.0, agent="202")]
    seed(sqlite_url, records)
    settings = ReportsConfig(companies={"support": "acme"}, targets=Targets(abandon_rate=0.04))
    rep = report(sqlite_url, settings)
    acme = {c.company: c for c in rep.companies}["acme"]
    c = acme.counts
    assert (c.offered, c.answered, c.timely, c.abandoned, c.timeouts) == (20, 18, 14, 1, 1)
    assert c.answer_rate == 0.9 and c.timely_rate == 0.7 and c.abandon_rate == 0.05 and c.aht_s == 200
    missed = {f.key for f in acme.figures if f.missed}
    assert missed == {"answer_rate", "timely_rate", "abandon_rate"}  # AHT 200 s <= 300 s is met
    assert {c.company for c in rep.companies} == {"acme", "sales"}, "an unmapped queue is its own company"
    sales = {c.company: c for c in rep.companies}["sales"]
    assert {f.key for f in sales.figures if f.missed} == {"aht_s"}
    lines = rep.misses()
    assert any(line.startswith("company acme: answer rate") and "90.0%" in line for line in lines)
    assert any(line.startswith("company sales: average handling time") for line in lines)
    assert any(line.startswith("half-hour 10:30: abandon rate") for line in lines)
    assert "*" in monthly.as_table(rep)


def outbound(agent: str, at: datetime, answered: bool = True) -> OutboundRecord:
    return OutboundRecord(call_id=Ids.next(), pbx="pbx1", agent=agent, endpoint=f"PJSIP/{agent}", number="02112345678",
                          started_at=at, dial_status="ANSWER" if answered else "NOANSWER", answered=answered)


def test_outbound_calls_per_agent_per_day(sqlite_url):
    seed(sqlite_url, [call(local(3, 9, 0), agent="201"), call(local(3, 9, 5), agent="203"),
                      *(outbound("201", local(3, 10, i)) for i in range(6)),
                      *(outbound("201", local(4, 23, 50 + i), answered=i % 2 == 0) for i in range(3)),
                      outbound("202", local(5, 10, 0)), outbound("201", local(1, 0, 0, month=12))])
    settings = ReportsConfig(targets=Targets(outbound_per_day=5))
    rep = report(sqlite_url, settings)
    lines = {a.agent: a for a in rep.agents}
    assert (lines["201"].outbound_placed, lines["201"].outbound_answered, lines["201"].outbound_days) == (9, 8, 2)
    assert lines["201"].outbound_per_day == 4.5
    figure = {f.key: f for f in lines["201"].figures}["outbound_per_day"]
    assert figure.missed and "outbound calls per day" in " ".join(rep.misses())
    assert (lines["202"].company, lines["202"].outbound_per_day) == ("-", 1.0), "placed calls, took none"
    none = {f.key: f for f in lines["203"].figures}["outbound_per_day"]
    assert none.value is None and none.met is None and none.note == "not measured"
    assert {a["agent"]: a["outbound_per_day"] for a in rep.as_dict()["agents"]}["201"] == 4.5
    assert any("日呼出量" in n for n in rep.notes)


def test_repeat_callers_three_unanswered_calls_in_one_day(sqlite_url):
    day = local(5, 9, 0)
    records = [call(day + timedelta(minutes=i), "abandoned", caller_num="13900000001") for i in range(3)]
    records += [call(day + timedelta(minutes=50), caller_num="13900000001")]  # answered at last
    records += [call(day + timedelta(minutes=i), "timeout", caller_num="13900000002") for i in range(2)]
    records += [call(day + timedelta(days=d), "abandoned", caller_num="13900000003") for d in range(3)]
    records += [call(day + timedelta(minutes=i), "abandoned", caller_num="") for i in range(4)]  # no number
    seed(sqlite_url, records)
    rep = report(sqlite_url)
    assert rep.repeat_callers == [{"day": "2026-11-05", "company": "support", "caller_num": "13900000001",
                                   "unanswered": 3, "answered_later": 1}]


def test_ring_twice_per_agent_is_the_ring_twice_reports_definition(sqlite_url):
    at = local(12, 14, 0)
    records = []
    for i, (agent, result, ring_s) in enumerate([
            ("201", "answered", 2.0), ("201", "answered", 6.2), ("201", "answered", 6.3), ("201", "no-answer", 6.0),
            ("202", "answered", 1.0), ("202", "caller-left", 1.0), ("202", "busy", 0.0), ("202", "unavailable", 0.0),
            ("203", "answered-elsewhere", 2.0)]):
        records.append(make_offer(f"u{i}", f"o{i}", agent=agent, result=result, ring_s=ring_s,
                                  rings=1 + int(ring_s // 5), offered_at=at + timedelta(minutes=i)))
    seed(sqlite_url, records)
    rep = report(sqlite_url)
    ours = {a.agent: (a.offers.offers, a.offers.answered, a.offers.within_two_rings, a.offers.missed, a.offers.rings)
            for a in rep.agents}
    engine = sync_engine(sqlite_url)
    theirs = {r.agent: (r.offers, r.answered, r.within_two_rings, r.missed, r.rings)
              for r in ring_twice.compliance(engine, *NOV, SH, CN, by="month")}
    engine.dispose()
    assert ours == theirs == {"201": (4, 3, 2, 1, 7), "202": (1, 1, 1, 0, 1)}


def test_intraday_counts_calls_that_joined_before_the_set_time(sqlite_url):
    seed(sqlite_url, [call(local(20, 8, 5)), call(local(20, 11, 29), "abandoned"), call(local(20, 11, 30)),
                      call(local(20, 12, 0), queue="sales"), call(local(19, 23, 59)), call(local(20, 9, 0), "timeout")])
    engine = sync_engine(sqlite_url)
    settings = ReportsConfig(companies={"support": "acme", "billing": "acme-billing"})
    at_1130 = intraday.report(engine, date(2026, 11, 20), SH, settings, until=time(11, 30))
    assert at_1130["total"] == {"company": "(all)", "offered": 3, "answered": 1, "abandoned": 1, "other": 1}
    assert [c["company"] for c in at_1130["companies"]] == ["acme", "acme-billing"], "configured, even with no calls"
    whole = intraday.report(engine, date(2026, 11, 20), SH, settings,
                            now=datetime(2026, 11, 21, tzinfo=timezone.utc))
    assert whole["total"]["offered"] == 5 and whole["until"] == "24:00"
    assert "Inbound calls 2026-11-20 00:00–11:30" in intraday.as_table(at_1130)
    engine.dispose()


def test_the_pbx_filter(sqlite_url):
    seed(sqlite_url, [call(local(2, 10, 0)), call(local(2, 10, 1), pbx="pbx2")])
    engine = sync_engine(sqlite_url)
    rep = monthly.monthly(engine, *NOV, SH, ReportsConfig(), 6.0, pbx="pbx2")
    engine.dispose()
    assert rep.total.counts.offered == 1


def test_csv_and_json_forms(sqlite_url):
    import csv
    import io
    import json

    seed(sqlite_url, [call(local(2, 10, 0)), call(local(2, 10, 1), "abandoned", caller_num="1")])
    rep = report(sqlite_url)
    rows = list(csv.DictReader(io.StringIO(monthly.as_csv(rep))))
    assert {"company", "agent", "half_hour", "day"} <= {r["section"] for r in rows}
    answer = next(r for r in rows if r["section"] == "company" and r["company"] == "(all)"
                  and r["figure"] == "answer_rate")
    assert (answer["value"], answer["target"], answer["met"]) == ("0.5", "0.95", "False")
    data = json.loads(json.dumps(rep.as_dict(), ensure_ascii=False))
    assert data["total"]["misses"] == ["answer_rate", "timely_rate", "abandon_rate"]
    assert len(data["abandon_by_half_hour"]) == 48 and len(data["by_day"]) == 30


def mixed_month() -> list:
    """A few hundred calls and offers with every outcome, spread over days and half-hours."""
    out = []
    for i in range(400):
        at = local(1 + i % 30, (i * 7) % 24, (i * 13) % 60, (i * 0.37) % 60)
        outcome = ("answered", "answered", "answered", "abandoned", "timeout", "transferred", "exitempty")[i % 7]
        out.append(call(at, outcome, queue=("support", "sales", "billing")[i % 3], caller_num=f"139{i % 30:04d}{i // 30 % 2}",
                        wait_s=(i * 1.7) % 40, talk_s=(i * 3.1) % 500 if outcome in ("answered", "transferred")
                        else None, agent=f"20{i % 4}" if outcome in ("answered", "transferred") else None,
                        ended_by="agent" if i % 11 == 0 else "caller"))
        out.append(make_offer(out[-1].uniqueid, f"o{i}", agent=f"20{i % 4}", queue=out[-1].queue, offered_at=at,
                              result=("answered", "no-answer", "caller-left")[i % 3], ring_s=(i * 0.9) % 9,
                              rings=1 + int(((i * 0.9) % 9) // 5)))
    return out


@pytest.fixture(scope="module")
def pg_url():
    if not postgres.available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL server not installed in CI", pytrace=False)
        pytest.skip("PostgreSQL not installed (or not root): apt-get install postgresql")
    server = postgres.PostgresServer().start()
    yield server.url
    server.stop()


@pytest.mark.postgres
def test_postgresql_and_sqlite_give_the_same_report(sqlite_url, pg_url):
    records = mixed_month()
    seed(sqlite_url, records)
    seed(pg_url, records)
    settings = ReportsConfig(companies={"support": "acme", "billing": "acme"}, repeat_caller_calls=2)
    lite, pg = report(sqlite_url, settings), report(pg_url, settings)
    assert lite.total.counts.offered == 400 and lite.repeat_callers
    assert lite.as_dict() == pg.as_dict()
    engine = sync_engine(pg_url)
    for day in (date(2026, 11, 3), date(2026, 11, 17)):
        lite_engine = sync_engine(sqlite_url)
        assert intraday.report(lite_engine, day, SH, settings, time(16, 30)) == intraday.report(
            engine, day, SH, settings, time(16, 30))
        lite_engine.dispose()
    engine.dispose()


def test_logged_in_and_pause_time_per_agent_are_clipped_to_the_month(sqlite_url):
    from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord

    def session(sid, login, logout):
        return AgentSessionRecord("pbx1", sid, "0301", "彭建华", "agent301", "Local/agent301@x/n", "support",
                                  login, logout, "phone" if logout else None)

    seed(sqlite_url, [
        session("s1", local(31, 22, 0, month=10), local(1, 2, 0)),   # 2 h of it fall in November
        session("s2", local(3, 8, 0), local(3, 17, 0)),               # 9 h
        AgentPauseRecord("pbx1", "p1", "s2", "0301", "彭建华", "meal", local(3, 12, 0), local(3, 12, 45)),
        AgentPauseRecord("pbx1", "p2", "s2", "0301", "彭建华", "break", local(3, 15, 0), local(3, 15, 10)),
        AgentPauseRecord("pbx1", "p3", "s2", "0301", "彭建华", "meal", local(3, 16, 0), local(3, 16, 15)),
    ])
    rep = report(sqlite_url)
    (line,) = rep.agent_time
    assert line.sessions == 2 and line.logged_in_s == 11 * 3600
    assert line.paused_s == {"meal": 3600, "break": 600}
    assert rep.as_dict()["agent_time"][0]["paused_h"] == {"break": 0.17, "meal": 1.0}
    assert "Agent time (hours)" in monthly.as_table(rep)
    assert any(r["figure"] == "paused_meal_h" for r in monthly.csv_rows(rep))
