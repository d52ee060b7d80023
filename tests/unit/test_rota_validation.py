"""Rota validation: every error is one line naming the file, the line and the key path."""

import re
from datetime import time

import pytest
from click.testing import CliRunner

from pbx_bridge.cli import cli
from pbx_bridge.rota import RotaError, load_rota
from pbx_bridge.rota.model import hash_pin

HASH = hash_pin("1234")

BASE = f"""\
start: 2026-01-05
companies:
  - id: jingan
    name: 静安有限公司
    mailboxes: ["8001@default"]
    agents:
      - {{employee_no: "0301", name: 王芳, endpoint: PJSIP/agent301, pin_hash: "{HASH}"}}
      - {{employee_no: "0302", name: 李娜, endpoint: PJSIP/agent302, pin_hash: "{HASH}"}}
  - id: baoshan
    name: 宝山有限公司
    mailboxes: ["8002@default"]
    agents:
      - {{employee_no: "0401", name: 张伟, endpoint: PJSIP/agent401, pin_hash: "{HASH}"}}
"""


def write(tmp_path, text, name="rota.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(RotaError) as err:
        load_rota(path)
    message = str(err.value)
    assert all(line.startswith(f"{path}:") for line in message.splitlines())  # every error, one line each
    return path, message


def test_example_rota_is_valid():
    rota = load_rota("rota.example.yaml")
    assert len(rota.companies) == 24 and len(rota.round_ids) == 6
    assert rota.round_ids[0] == ("jingan", "baoshan", "huangpu", "luwan")
    assert rota.round_ids[1] == ("putuo", "pudong", "jinshan", "nanhui")
    assert all(3 <= len(c.agents) <= 4 for c in rota.companies)


def test_defaults_when_omitted(tmp_path):
    rota = load_rota(write(tmp_path, BASE))
    assert rota.timezone == "Asia/Shanghai"
    assert rota.calendar.kind == "china"
    assert (rota.listenings.first, rota.listenings.count) == (time(11, 0), 3)
    assert (rota.listenings.interval_minutes, rota.listenings.round_gap_minutes) == (120, 10)
    assert rota.round_ids == (("jingan", "baoshan"),)


def test_default_rounds_are_four_companies_in_file_order(tmp_path):
    companies = "".join(
        f"  - id: c{i}\n    name: C{i}\n    mailboxes: [\"{8000 + i}\"]\n    agents:\n"
        f"      - {{employee_no: \"{i}\", name: A{i}, endpoint: PJSIP/a{i}, pin_hash: \"{HASH}\"}}\n"
        for i in range(1, 10))
    rota = load_rota(write(tmp_path, "start: 2026-01-05\ncompanies:\n" + companies))
    assert [len(r) for r in rota.round_ids] == [4, 4, 1]
    assert rota.round_ids[0] == ("c1", "c2", "c3", "c4")
    assert rota.company("c1").mailboxes == ("8001@default",)


def test_unquoted_times_and_employee_numbers_stay_as_written(tmp_path):
    text = BASE.replace('"0301"', "0301").replace("start: 2026-01-05\n",
                                                  "start: 2026-01-05\nlistenings:\n  first: 09:30\n")
    rota = load_rota(write(tmp_path, text))
    assert rota.listenings.first == time(9, 30)  # not the base-60 integer 570
    assert rota.agent("0301").name == "王芳"  # not the octal 193


def test_unknown_key_names_file_line_and_key(tmp_path):
    text = BASE.replace('      - {employee_no: "0302"', '      - {employe_no: "0302"')
    path, msg = error_of(tmp_path, text)
    assert msg.startswith(f"{path}:8: companies[0].agents[1].")
    text = BASE.replace("    mailboxes: [\"8002@default\"]\n", "    mailboxes: [\"8002@default\"]\n    colour: red\n")
    path, msg = error_of(tmp_path, text)
    assert msg == f"{path}:12: companies[1].colour: unknown key"


def test_wrong_type_names_file_line_and_key(tmp_path):
    path, msg = error_of(tmp_path, BASE + "listenings:\n  count: three\n")
    assert re.match(rf"^{re.escape(path)}:15: listenings.count: Input should be a valid integer", msg)


def test_missing_start_is_an_error(tmp_path):
    path, msg = error_of(tmp_path, BASE.replace("start: 2026-01-05\n", ""))
    assert msg == f"{path}:1: start: required key is missing"


def test_bad_time_names_the_key(tmp_path):
    path, msg = error_of(tmp_path, BASE + "listenings:\n  first: \"25:00\"\n")
    assert msg.startswith(f"{path}:15: listenings.first: '25:00' is not a time of day")


def test_bad_shift_names_the_shift(tmp_path):
    path, msg = error_of(tmp_path, BASE + "shifts:\n  early: 08:00-17:00\n  late: 18:00-10:00\n")
    assert msg == f"{path}:16: shifts.late: the shift 18:00-10:00 ends before it starts"


def test_unknown_shift_of_an_agent(tmp_path):
    text = BASE.replace('endpoint: PJSIP/agent302,', 'endpoint: PJSIP/agent302, shift: night,')
    path, msg = error_of(tmp_path, text)
    assert msg.startswith(f"{path}:8: companies[0].agents[1].shift: unknown shift 'night'")


def test_listenings_past_midnight_are_refused(tmp_path):
    path, msg = error_of(tmp_path, BASE + "listenings:\n  first: \"20:00\"\n  count: 4\n")
    assert msg.startswith(f"{path}:14: listenings: the last round's last listening")


def test_company_in_two_rounds(tmp_path):
    path, msg = error_of(tmp_path, BASE + "rounds:\n  - [jingan]\n  - [baoshan,\n     jingan]\n")
    assert msg == f"{path}:17: rounds[1][1]: company 'jingan' is in two rounds: also round 1"


def test_company_in_no_round(tmp_path):
    path, msg = error_of(tmp_path, BASE + "rounds:\n  - [jingan]\n")
    assert msg == f"{path}:9: companies[1].id: company 'baoshan' is in no round"


def test_unknown_company_in_a_round(tmp_path):
    path, msg = error_of(tmp_path, BASE + "rounds:\n  - [jingan, baoshan, putuo]\n")
    assert msg == f"{path}:15: rounds[0][2]: unknown company 'putuo'"


def test_agent_in_two_companies(tmp_path):
    text = BASE.replace('employee_no: "0401"', 'employee_no: "0301"')
    path, msg = error_of(tmp_path, text)
    assert msg.startswith(f"{path}:13: companies[1].agents[0].employee_no: agent '0301' is in two companies")


def test_duplicate_employee_numbers(tmp_path):
    text = BASE.replace('employee_no: "0302"', 'employee_no: "301"')  # numerically the same 工号
    path, msg = error_of(tmp_path, text)
    assert msg.startswith(f"{path}:8: companies[0].agents[1].employee_no: duplicate employee number '301'")


def test_duplicate_company_ids(tmp_path):
    path, msg = error_of(tmp_path, BASE.replace("id: baoshan", "id: jingan"))
    assert msg.startswith(f"{path}:9: companies[1].id: company 'jingan' is already companies[0]")


def test_unknown_agent_in_leave(tmp_path):
    path, msg = error_of(tmp_path, BASE + "leave:\n  - agent: \"0999\"\n    dates: [2026-10-09]\n")
    assert msg.startswith(f"{path}:15: leave[0].agent: unknown agent '0999'")


def test_unknown_company_in_leave(tmp_path):
    text = BASE + "leave:\n  - agent: \"0301\"\n    company: putuo\n    dates: [2026-10-09]\n"
    path, msg = error_of(tmp_path, text)
    assert msg == f"{path}:16: leave[0].company: unknown company 'putuo'"


def test_leave_agent_of_another_company(tmp_path):
    text = BASE + "leave:\n  - agent: \"0301\"\n    company: baoshan\n    dates: [2026-10-09]\n"
    path, msg = error_of(tmp_path, text)
    assert msg == f"{path}:15: leave[0].agent: agent '0301' is in company 'jingan', not 'baoshan'"


def test_bad_leave_range_points_at_the_item(tmp_path):
    text = BASE + "leave:\n  - agent: \"0301\"\n    dates:\n      - 2026-10-09\n      - 2026-10-14..2026-10-12\n"
    path, msg = error_of(tmp_path, text)
    assert msg == f"{path}:18: leave[0].dates[1]: the range 2026-10-14..2026-10-12 ends before it starts"


def test_plain_pin_is_refused(tmp_path):
    path, msg = error_of(tmp_path, BASE.replace(f'pin_hash: "{HASH}"}}\n  - id: baoshan', 'pin_hash: "1234"}\n  - id: baoshan'))
    assert msg.startswith(f"{path}:8: companies[0].agents[1].pin_hash: not an argon2 hash")


def test_unknown_time_zone(tmp_path):
    path, msg = error_of(tmp_path, BASE + "timezone: Mars/Olympus\n")
    assert msg == f"{path}:14: timezone: unknown time zone 'Mars/Olympus'"


def test_day_both_extra_workday_and_holiday(tmp_path):
    text = BASE + "calendar:\n  extra_workdays: [2026-12-26]\n  extra_holidays: [2026-12-26]\n"
    path, msg = error_of(tmp_path, text)
    assert msg == f"{path}:16: calendar.extra_holidays: 2026-12-26 is also in extra_workdays"


def test_yaml_syntax_error_names_the_line(tmp_path):
    path, msg = error_of(tmp_path, BASE + "rounds: [jingan\n")
    assert re.match(rf"^{re.escape(path)}:\d+: invalid YAML", msg)


def test_pin_round_trip():
    from pbx_bridge.rota import verify_pin

    assert verify_pin(HASH, "1234") and not verify_pin(HASH, "1235")


def test_cli_check_ok_and_error(tmp_path, monkeypatch):
    from pbx_bridge.rota import calendar

    monkeypatch.setattr(calendar, "published_through", lambda: 2100)  # no warning: exit 0 whatever today is
    result = CliRunner().invoke(cli, ["rota", "check", "rota.example.yaml"])
    assert result.exit_code == 0
    assert re.search(r"^ok: 24 companies, 80 agents, 6 rounds, calendar china \(covers 2004–\d{4}\)$",
                     result.stdout, re.M)
    path = write(tmp_path, BASE + "rounds:\n  - [jingan]\n")
    result = CliRunner().invoke(cli, ["rota", "check", path])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"pbx-bridge: rota error: {path}:9: companies[1].id: company 'baoshan' is in no round"]


def test_cli_hash_pin_from_stdin():
    from pbx_bridge.rota import verify_pin

    result = CliRunner().invoke(cli, ["rota", "hash-pin"], input="246810\n")
    assert result.exit_code == 0
    assert verify_pin(result.stdout.strip(), "246810")
    assert CliRunner().invoke(cli, ["rota", "hash-pin"], input="12a\n").exit_code == 2


def test_cli_show_tells_who_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PBX_BRIDGE_ROTA", "rota.example.yaml")
    result = CliRunner().invoke(cli, ["rota", "show", "--date", "2026-10-09", "--company", "jingan"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "turn of: 0302 戴玲" in out
    assert "skipped: 0302 戴玲 (on leave 2026-10-09 (年假))" in out
    assert "on duty: 0305 罗强" in out
    assert "listens: 11:00 13:00 15:00" in out
    result = CliRunner().invoke(cli, ["rota", "show", "--date", "2026-10-08", "--company", "jingan"])
    assert "2026-10-01 Thu (official holiday (国庆节))" in result.stdout
