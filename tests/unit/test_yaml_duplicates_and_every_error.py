"""Admin YAML files (config, rota, screening list) refuse a key written twice, naming file:line:key,
and report every error, one line each (not the first with "(and N more)"); a reload with either
keeps the file in force."""

import pytest
from click.testing import CliRunner

from pbx_bridge.cli import cli
from pbx_bridge.config import ConfigError, load_config
from pbx_bridge.nuisance.file import ScreeningFileError, load_file
from pbx_bridge.rota import RotaError, RotaHolder, load_rota
from pbx_bridge.rota.model import hash_pin
from zoneinfo import ZoneInfo

HASH = hash_pin("1234")
ROTA = f"""\
start: 2026-01-05
companies:
  - id: jingan
    name: 静安
    mailboxes: ["8001"]
    agents:
      - {{employee_no: "0301", name: 王芳, endpoint: PJSIP/a301, pin_hash: "{HASH}"}}
      - {{employee_no: "0302", name: 李娜, endpoint: PJSIP/a302, pin_hash: "{HASH}"}}
"""


def write(tmp_path, text, name="rota.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_second_start_in_a_rota_is_refused_with_file_line_and_key(tmp_path):
    path = write(tmp_path, ROTA + "start: 2026-03-02\n")
    with pytest.raises(RotaError) as err:
        load_rota(path)
    assert str(err.value) == f"{path}:9: start: duplicate key (first at line 1): write each key once"


def test_every_duplicate_is_one_line_nested_ones_with_their_key_path(tmp_path):
    text = ROTA.replace("    name: 静安\n", "    name: 静安\n    name: 静安二\n") + "leave: []\nleave: []\n"
    path = write(tmp_path, text)
    with pytest.raises(RotaError) as err:
        load_rota(path)
    assert str(err.value).splitlines() == [
        f"{path}:5: companies[0].name: duplicate key (first at line 4): write each key once",
        f"{path}:11: leave: duplicate key (first at line 10): write each key once"]


def test_a_merge_key_is_not_a_duplicate(tmp_path):
    text = ROTA.replace("companies:\n", "defaults: &d {mailboxes: [\"8009\"]}\ncompanies:\n", 1)
    text = text.replace("    mailboxes: [\"8001\"]\n", "    <<: *d\n    mailboxes: [\"8001\"]\n")
    path = write(tmp_path, text)
    with pytest.raises(RotaError) as err:  # `defaults` is an unknown key, the merge itself is fine
        load_rota(path)
    assert "duplicate" not in str(err.value) and "defaults: unknown key" in str(err.value)


def test_every_validation_error_is_reported_one_line_each(tmp_path):
    text = ROTA.replace("name: 李娜", "name: \"\"").replace("mailboxes: [\"8001\"]", "mailboxes: [\"80 01\"]")
    path = write(tmp_path, text + "colour: red\n")
    with pytest.raises(RotaError) as err:
        load_rota(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 3 and "more)" not in str(err.value)
    assert lines[0].startswith(f"{path}:5: companies[0].mailboxes[0]: ")
    assert lines[1].startswith(f"{path}:8: companies[0].agents[1].name: ")
    assert lines[2] == f"{path}:9: colour: unknown key"


def test_rota_check_prints_every_error_with_its_prefix_and_exits_2(tmp_path):
    path = write(tmp_path, ROTA + "colour: red\nstart: 2026-03-02\nstart: 2026-03-03\n")
    result = CliRunner().invoke(cli, ["rota", "check", path])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"pbx-bridge: rota error: {path}:10: start: duplicate key (first at line 1): write each key once",
        f"pbx-bridge: rota error: {path}:11: start: duplicate key (first at line 1): write each key once"]


def test_a_reload_with_a_duplicate_key_keeps_the_rota_in_force(tmp_path):
    path = write(tmp_path, ROTA)
    holder = RotaHolder(path)
    old = holder.load()
    write(tmp_path, ROTA + "start: 2026-03-02\n")
    ok, message = holder.reload()
    assert not ok and holder.current is old
    assert message == (f"{path}:9: start: duplicate key (first at line 1): write each key once "
                       "(the previous rota stays in force)")


def test_the_config_file_refuses_a_duplicate_key_and_config_check_says_where(tmp_path):
    path = write(tmp_path, "ami:\n  host: 127.0.0.1\n  port: 5038\n  port: 5039\n", "config.yaml")
    with pytest.raises(ConfigError, match=rf"^{path}:4: ami.port: duplicate key \(first at line 3\)"):
        load_config(path, env={})
    result = CliRunner().invoke(cli, ["config", "check", "-c", path])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"pbx-bridge: config error: {path}:4: ami.port: duplicate key")


def test_the_config_file_reports_every_error(tmp_path):
    path = write(tmp_path, "ami:\n  host: 127.0.0.1\n  port: many\ncolour: red\n", "config.yaml")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    lines = str(err.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [[f"{path}:3", "ami.port"], [f"{path}:4", "colour"]]


def test_the_screening_file_refuses_a_duplicate_key(tmp_path):
    text = "screen:\n  - {number: \"13800000001\", reason: a, reason: b}\nnever_screen: [\"110\"]\n"
    with pytest.raises(ScreeningFileError) as err:
        load_file("s.yaml", ZoneInfo("Asia/Shanghai"), text)
    assert str(err.value) == "s.yaml:2: screen[0].reason: duplicate key (first at line 2): write each key once"
