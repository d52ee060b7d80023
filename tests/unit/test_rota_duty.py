"""The duty: one agent per company per working day, in turn by 工号, leave skipped (docs/rota.md).

Properties checked over a year of the real calendar:
- exactly one agent per company on every working day (none only if every agent is on leave),
  none on a non-working day, never an agent on leave;
- with nobody on leave: the k-th working day since the anchor goes to ordered[k mod n], so in
  every calendar month (indeed every run of consecutive working days) the agents' duty counts
  differ by at most 1;
- with leave: two agents who are both present over a run of working days take the duty
  alternately within it (counts differ by at most 1 over any such run), and an agent skipped for
  leave is on duty on their first working day back.
"""

from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx_bridge.rota import Rota, duty
from pbx_bridge.rota.model import hash_pin

HASH = hash_pin("1234")


def make_rota(agents_per_company, start=date(2025, 1, 6), leave=(), calendar="china", firsts=None):
    companies = []
    for c, nos in enumerate(agents_per_company):
        company = {
            "id": f"c{c}", "name": f"公司{c}", "mailboxes": [f"{8000 + c}@default"],
            "agents": [{"employee_no": no, "name": f"坐席{no}", "endpoint": f"PJSIP/a{no}", "pin_hash": HASH}
                       for no in nos],
        }
        if firsts and firsts[c]:
            company["first"] = firsts[c]
        companies.append(company)
    return Rota.model_validate({
        "start": start, "calendar": {"kind": calendar}, "companies": companies,
        "leave": [{"agent": no, "dates": [a if a == b else f"{a}..{b}" for a, b in spans]} for no, spans in leave],
    })


def days(first, count):
    return [first + timedelta(n) for n in range(count)]


# -- strategies -----------------------------------------------------------------------------------

employee_numbers = st.lists(st.integers(1, 20_000), min_size=1, max_size=6, unique=True).map(
    lambda nums: [str(n).zfill(4) if n % 3 else str(n) for n in nums])  # mixed widths: sort is numeric
starts = st.dates(date(2025, 1, 1), date(2025, 12, 31))


@st.composite
def rota_with_leave(draw, with_leave=True):
    companies = draw(st.lists(employee_numbers, min_size=1, max_size=3))
    seen, unique = set(), []
    for nos in companies:  # an agent is in one company only
        nos = [n for n in nos if int(n) not in seen]
        seen |= {int(n) for n in nos}
        if nos:
            unique.append(nos)
    start = draw(starts)
    leave = []
    if with_leave:
        for nos in unique:
            for no in nos:
                spans = draw(st.lists(st.tuples(st.integers(0, 370), st.integers(0, 20)), max_size=4))
                if spans:
                    leave.append((no, [(start + timedelta(a), start + timedelta(a + n)) for a, n in spans]))
    calendar = draw(st.sampled_from(["china", "weekdays"]))
    return make_rota(unique, start, leave, calendar), start


YEAR = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@YEAR
@given(rota_with_leave())
def test_one_agent_per_working_day_never_on_leave_none_on_days_off(case):
    rota, start = case
    for company in rota.companies:
        for day in days(start, 366):
            d = duty(rota, company.id, day)
            working, _ = rota.is_working_day(day)
            assert d.working_day == working
            if not working:
                assert d.agent is None and d.turn_of is None
                continue
            present = [a for a in company.agents if rota.on_leave(a, day) is None]
            if present:
                assert d.agent in company.agents
                assert rota.on_leave(d.agent, day) is None
                assert set(d.standby) == set(present) - {d.agent}
            else:
                assert d.agent is None
            assert all(rota.on_leave(a, day) for a, _ in d.skipped)
            if not d.skipped:
                assert d.agent == d.turn_of


@YEAR
@given(rota_with_leave(with_leave=False))
def test_without_leave_duty_counts_in_every_month_differ_by_at_most_one(case):
    rota, start = case
    for company in rota.companies:
        ordered = sorted(company.agents, key=lambda a: int(a.employee_no))
        n = len(ordered)
        by_month: dict[tuple[int, int], Counter] = {}
        k = 0
        for day in days(start, 366):
            d = duty(rota, company.id, day)
            if not d.working_day:
                continue
            assert d.agent == ordered[k % n] and d.ordinal == k
            k += 1
            by_month.setdefault((day.year, day.month), Counter())[d.agent.employee_no] += 1
        for counts in by_month.values():
            per_agent = [counts.get(a.employee_no, 0) for a in ordered]
            assert max(per_agent) - min(per_agent) <= 1


@YEAR
@given(rota_with_leave())
def test_with_leave_present_agents_alternate_and_the_skipped_one_is_next_when_back(case):
    rota, start = case
    for company in rota.companies:
        agents = company.agents
        working = [day for day in days(start, 366) if rota.is_working_day(day)[0]]
        owed: set[str] = set()  # skipped for leave, not on duty since
        last_pair: dict[tuple[str, str], str | None] = {}
        for day in working:
            d = duty(rota, company.id, day)
            present = {a.employee_no for a in agents if rota.on_leave(a, day) is None}
            # back from leave: on duty at once (if several are owed, the one longest waiting is)
            if d.agent is not None and owed & present:
                assert d.agent.employee_no in owed
            if d.agent is not None:
                owed.discard(d.agent.employee_no)
            owed |= {a.employee_no for a, _ in d.skipped}
            # two agents present over a run take the duty alternately within it
            for a in agents:
                for b in agents:
                    if a.employee_no >= b.employee_no:
                        continue
                    pair = (a.employee_no, b.employee_no)
                    if not {a.employee_no, b.employee_no} <= present:
                        last_pair[pair] = None  # the run is broken
                        continue
                    if d.agent is not None and d.agent.employee_no in pair:
                        assert last_pair.get(pair) != d.agent.employee_no, (day, pair)
                        last_pair[pair] = d.agent.employee_no


def test_leave_in_the_middle_keeps_the_place_in_the_queue():
    # Mon 2026-03-02 .. : A B C D, B on leave Tue and Wed.
    rota = make_rota([["0301", "0302", "0303", "0304"]], start=date(2026, 3, 2),
                     leave=[("0302", [(date(2026, 3, 3), date(2026, 3, 4))])])
    week = [date(2026, 3, 2) + timedelta(n) for n in (0, 1, 2, 3, 4, 7, 8, 9)]  # skip the weekend
    got = [duty(rota, "c0", day).agent.employee_no for day in week]
    assert got == ["0301", "0303", "0304", "0302", "0301", "0303", "0304", "0302"]
    tue = duty(rota, "c0", date(2026, 3, 3))
    assert tue.turn_of.employee_no == "0302"
    assert [(a.employee_no, why) for a, why in tue.skipped] == [("0302", "on leave 2026-03-03..2026-03-04")]
    assert "0303" in tue.reason and "skipped" in tue.reason
    assert [a.employee_no for a in tue.standby] == ["0304", "0301"]


def test_order_is_numeric_not_textual():
    rota = make_rota([["1020", "955", "0301"]], start=date(2026, 3, 2))
    got = [duty(rota, "c0", date(2026, 3, 2) + timedelta(n)).agent.employee_no for n in range(3)]
    assert got == ["0301", "955", "1020"]


def test_first_rotates_the_start_of_the_turn():
    rota = make_rota([["0301", "0302", "0303"]], start=date(2026, 3, 2), firsts=["0302"])
    got = [duty(rota, "c0", date(2026, 3, 2) + timedelta(n)).agent.employee_no for n in range(4)]
    assert got == ["0302", "0303", "0301", "0302"]


def test_everyone_on_leave_means_nobody_and_the_queue_does_not_move():
    rota = make_rota([["0301", "0302"]], start=date(2026, 3, 2),
                     leave=[("0301", [(date(2026, 3, 3), date(2026, 3, 3))]),
                            ("0302", [(date(2026, 3, 3), date(2026, 3, 3))])])
    tue = duty(rota, "c0", date(2026, 3, 3))
    assert tue.working_day and tue.agent is None and len(tue.skipped) == 2
    assert duty(rota, "c0", date(2026, 3, 4)).agent.employee_no == "0302"


def test_non_working_days_are_listed_on_the_next_working_day():
    rota = make_rota([["0301", "0302"]], start=date(2026, 9, 1))
    d = duty(rota, "c0", date(2026, 10, 8))
    assert [day for day, _ in d.days_off] == [date(2026, 10, n) for n in range(1, 8)]
    assert duty(rota, "c0", date(2026, 10, 1)).reason.startswith("no duty: official holiday (国庆节")


def test_before_the_anchor_there_is_no_duty():
    rota = make_rota([["0301"]], start=date(2026, 3, 2))
    d = duty(rota, "c0", date(2026, 2, 27))
    assert d.agent is None and "before the rota's start" in d.reason


def test_duty_is_cached_per_day():
    rota = make_rota([["0301", "0302"]], start=date(2026, 1, 5))
    assert duty(rota, "c0", date(2026, 12, 1)) is duty(rota, "c0", date(2026, 12, 1))
