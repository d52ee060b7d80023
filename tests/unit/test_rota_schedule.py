"""Listening times: rounds 10 min apart, every 2 h, none on non-working days, only within the shift."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pbx_bridge.rota import Rota, listenings, load_rota, next_listenings
from pbx_bridge.rota.model import hash_pin

SH = ZoneInfo("Asia/Shanghai")
HASH = hash_pin("1234")


def rota(n_companies=6, shift=None, **extra):
    companies = [{"id": f"c{c}", "name": f"公司{c}", "mailboxes": [f"{8000 + c}"],
                  "agents": [{"employee_no": f"{c}01", "name": "王芳", "endpoint": f"PJSIP/a{c}", "pin_hash": HASH,
                              **({"shift": shift} if shift and c == 0 else {})}]}
                 for c in range(n_companies)]
    return Rota.model_validate({"start": "2026-01-05", "companies": companies,
                                "shifts": {"short": "08:00-14:00", "late": "12:00-18:00"}, **extra})


def hhmm(items):
    return [(li.company_id, li.round_no, li.index, li.at.strftime("%H:%M")) for li in items]


def test_default_times_round_by_round():
    got = hhmm(listenings(rota(), date(2026, 10, 8)))
    assert got[:6] == [("c0", 1, 1, "11:00"), ("c1", 1, 1, "11:00"), ("c2", 1, 1, "11:00"), ("c3", 1, 1, "11:00"),
                       ("c4", 2, 1, "11:10"), ("c5", 2, 1, "11:10")]
    assert [t for c, r, i, t in got if c == "c0"] == ["11:00", "13:00", "15:00"]
    assert [t for c, r, i, t in got if c == "c5"] == ["11:10", "13:10", "15:10"]
    assert len(got) == 18


def test_times_are_aware_in_the_rota_time_zone():
    first = listenings(rota(), date(2026, 10, 8))[0]
    assert first.at == datetime(2026, 10, 8, 11, 0, tzinfo=SH)
    assert first.at.utcoffset() == timedelta(hours=8)
    assert first.key == "c0/2026-10-08/1"


def test_settings_change_the_times():
    r = rota(listenings={"first": "09:30", "count": 4, "interval_minutes": 90, "round_gap_minutes": 5})
    got = hhmm(listenings(r, date(2026, 10, 8)))
    assert [t for c, _, _, t in got if c == "c4"] == ["09:35", "11:05", "12:35", "14:05"]


def test_none_on_non_working_days():
    assert listenings(rota(), date(2026, 10, 1)) == []  # 国庆节
    assert listenings(rota(), date(2026, 3, 7)) == []  # Saturday
    assert len(listenings(rota(), date(2026, 10, 10))) == 18  # 调休 Saturday


def test_listenings_outside_the_duty_agents_shift_are_not_held():
    got = hhmm(listenings(rota(shift="short"), date(2026, 10, 8)))
    assert [t for c, _, _, t in got if c == "c0"] == ["11:00", "13:00"]
    got = hhmm(listenings(rota(shift="late"), date(2026, 10, 8)))
    assert [t for c, _, _, t in got if c == "c0"] == ["13:00", "15:00"]


def test_next_listenings_across_a_holiday():
    r = rota(n_companies=1)
    after = datetime(2026, 9, 30, 13, 0, tzinfo=SH)  # strictly after: the 13:00 one is not included
    until = datetime(2026, 10, 8, 11, 0, tzinfo=SH)
    got = next_listenings(r, after, until)
    assert [li.at for li in got] == [datetime(2026, 9, 30, 15, 0, tzinfo=SH), datetime(2026, 10, 8, 11, 0, tzinfo=SH)]


def test_next_listenings_accepts_other_zones():
    r = rota(n_companies=1)
    got = next_listenings(r, datetime(2026, 10, 8, 0, 0, tzinfo=ZoneInfo("UTC")),
                          datetime(2026, 10, 8, 6, 0, tzinfo=ZoneInfo("UTC")))
    assert [li.at.strftime("%H:%M") for li in got] == ["11:00", "13:00"]


def test_example_rota_has_six_rounds_until_15_50():
    r = load_rota("rota.example.yaml")
    got = listenings(r, date(2026, 10, 8))
    assert min(li.at for li in got).strftime("%H:%M") == "11:00"
    assert max(li.at for li in got).strftime("%H:%M") == "15:50"
    assert {li.company_id for li in got} == {c.id for c in r.companies}
