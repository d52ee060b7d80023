"""The admins' files (config, rota, screening list, secret file) are read within limits: size,
nesting, what aliases expand to, date ranges and years. Each refusal is one line naming the file
and the line; a refused edit at a reload keeps the version in force."""

import asyncio
import os
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from pbx_bridge.config import ConfigError, load_config
from pbx_bridge.nuisance.file import FileHolder, ScreeningFileError, load_file
from pbx_bridge.rota import RotaError, RotaHolder, load_rota
from pbx_bridge.rota.model import hash_pin
from pbx_bridge.settings import SecretFileError, read_secret_file
from pbx_bridge.yaml_errors import MAX_DEPTH, PlainLoader, read_yaml
from tests.support.tasks import cancel_and_wait

HASH = hash_pin("1234")
TZ = ZoneInfo("Asia/Shanghai")


class Refused(Exception):
    pass


def rota_text(name="王芳", extra=""):
    return (f"start: 2026-01-05\ncompanies:\n  - id: jingan\n    name: 静安\n    mailboxes: [\"8001\"]\n"
            f"    agents:\n      - {{employee_no: \"0301\", name: {name}, endpoint: PJSIP/a301, pin_hash: \"{HASH}\"}}\n"
            + extra)


def nested_block(levels: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(levels)) + "  " * levels + "x\n"


def refusal(tmp_path, text: str, name: str = "f.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Refused) as caught:
        read_yaml(str(path), Refused, PlainLoader)
    return str(caught.value)


# -- size ---------------------------------------------------------------------------------------

def test_a_file_over_1_MiB_is_refused_before_parsing_with_its_size(tmp_path):
    # invalid YAML beyond the first line: the size is the only error reported, so it was not parsed
    message = refusal(tmp_path, "a: 1\n" + "]" * (5 * 1024 * 1024))
    assert message == f"{tmp_path}/f.yaml: too large (5 MiB, limit 1 MiB)"


def test_a_device_or_fifo_is_refused_without_reading_or_blocking(tmp_path):
    with pytest.raises(Refused, match=r"^/dev/zero: not a regular file$"):
        read_yaml("/dev/zero", Refused)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(Refused, match=r"fifo.yaml: not a regular file$"):
        read_yaml(str(fifo), Refused)


# -- nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line", [
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", 1),  # PyYAML alone: RecursionError
    (nested_block(MAX_DEPTH + 5), MAX_DEPTH),  # the key on line 32 is the 33rd level
])
def test_deep_nesting_is_one_line_naming_the_line(tmp_path, text, line):
    assert refusal(tmp_path, text) == f"{tmp_path}/f.yaml:{line}: too deeply nested (over {MAX_DEPTH} levels)"


def test_nesting_within_the_limit_is_read(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(nested_block(MAX_DEPTH - 2))
    data, _ = read_yaml(str(path), Refused)
    assert "k0" in data


def test_aliases_cannot_nest_deeper_than_the_limit(tmp_path):
    deep = "a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n"
    assert refusal(tmp_path, deep).endswith(":2: too deeply nested (over 32 levels)")


# -- aliases ------------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_at_its_line(tmp_path):
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))  # 9^10 values
    assert refusal(tmp_path, bomb) == (
        f"{tmp_path}/f.yaml:6: too many values (over 200000, aliases counted as expanded)")


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    assert refusal(tmp_path, "a:\n  b: &r [1, *r]\n") == f"{tmp_path}/f.yaml:2: an alias inside its own anchor"


def test_small_aliases_and_merge_keys_are_still_allowed(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  z: 3\nd: [*b, *b]\n")
    data, _ = read_yaml(str(path), Refused)
    assert data["c"] == {"x": 1, "y": 2, "z": 3} and data["d"] == [{"x": 1, "y": 2}] * 2


# -- the config and its secret file -------------------------------------------------------------

def test_a_deeply_nested_config_is_a_config_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("ami:\n  host: h\nlogging: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: too deeply nested"):
        load_config(str(path), env={})


@pytest.mark.parametrize("secret_file, problem", [
    ("/dev/zero", "/dev/zero: not a regular file"),
    ("{tmp}/big", "{tmp}/big: too large (5 KiB, limit 4 KiB)"),
    ("{tmp}/missing", "{tmp}/missing: cannot read: No such file or directory"),
])
def test_a_secret_file_that_is_not_a_small_regular_file_is_one_config_error(tmp_path, secret_file, problem):
    (tmp_path / "big").write_bytes(b"x" * 5 * 1024)
    secret_file = secret_file.format(tmp=tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(f"ami:\n  host: h\n  secret_file: {secret_file}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), env={})
    assert str(caught.value) == f"{path}:3: ami.secret_file: {problem.format(tmp=tmp_path)}"


def test_read_secret_file_strips_and_refuses_what_is_not_text(tmp_path):
    (tmp_path / "s").write_text("  s3cret\n")
    assert read_secret_file(tmp_path / "s") == "s3cret"
    (tmp_path / "b").write_bytes(b"\xff\xfe")
    with pytest.raises(SecretFileError, match="not UTF-8"):
        read_secret_file(str(tmp_path / "b"))


# -- dates: ranges and years --------------------------------------------------------------------

@pytest.mark.parametrize("extra, error", [
    ("calendar:\n  extra_holidays:\n    - 0001-01-01..9999-12-31\n",
     "rota.yaml:10: calendar.extra_holidays[0]: 0001-01-01 is outside the years 1970..2100"),
    ("calendar:\n  extra_holidays:\n    - 2026-01-01..2030-12-31\n",
     "rota.yaml:10: calendar.extra_holidays[0]: the range 2026-01-01..2030-12-31 covers 1826 days: "
     "at most 366, split a longer one"),
    ("leave:\n  - agent: \"0301\"\n    dates: [2026-01-01..2027-06-30]\n",
     "rota.yaml:10: leave[0].dates[0]: the range 2026-01-01..2027-06-30 covers 546 days: at most 366"),
    ("leave:\n  - agent: \"0301\"\n    dates: [{from: 2026-01-01, to: 2199-01-01}]\n",
     "rota.yaml:10: leave[0].dates[0]: 2199-01-01 is outside the years 1970..2100"),
])
def test_a_date_range_is_bounded_with_file_line_and_key(extra, error):
    with pytest.raises(RotaError) as caught:
        load_rota("rota.yaml", text=rota_text(extra=extra))
    assert str(caught.value).startswith(error)


def test_the_rota_anchor_must_lie_in_the_years_allowed():
    with pytest.raises(RotaError, match=r"^rota.yaml:1: start: 0001-01-05 is outside the years 1970..2100$"):
        load_rota("rota.yaml", text=rota_text().replace("2026-01-05", "0001-01-05"))
    company_start = rota_text().replace("    name: 静安\n", "    name: 静安\n    start: 1900-01-01\n")
    with pytest.raises(RotaError, match=r"^rota.yaml:5: companies\[0\].start: 1900-01-01 is outside the years"):
        load_rota("rota.yaml", text=company_start)


def test_a_calendar_list_holds_at_most_ten_years_of_days():
    ranges = "".join(f"    - {year}-01-01..{year}-12-31\n" for year in range(2000, 2012))
    with pytest.raises(RotaError, match=r"^rota.yaml:9: calendar.extra_holidays: more than 3660 days listed"):
        load_rota("rota.yaml", text=rota_text(extra="calendar:\n  extra_holidays:\n" + ranges))


def test_a_screen_until_far_in_the_future_is_refused_at_its_line_not_an_overflow():
    text = "screen:\n  - number: \"13800000001\"\n    until: 9999-12-31\n    reason: x\n"
    with pytest.raises(ScreeningFileError,
                       match=r"^s.yaml:3: screen\[0\].until: 9999-12-31 is outside the years 1970..2100$"):
        load_file("s.yaml", TZ, text)


# -- reloads keep the version in force ----------------------------------------------------------

def test_a_deeply_nested_rota_at_reload_is_refused_and_the_old_rota_stays(tmp_path):
    path = tmp_path / "rota.yaml"
    path.write_text(rota_text())
    holder = RotaHolder(str(path))
    old = holder.load()
    path.write_text(rota_text(extra="shifts: " + "[" * 100_000 + "]" * 100_000 + "\n"))
    with capture_logs() as logs:
        ok, message = holder.reload()
    assert not ok and holder.current is old
    assert message == f"{path}:8: too deeply nested (over 32 levels) (the previous rota stays in force)"
    assert [(e["event"], e["log_level"], e["error"]) for e in logs] == [
        ("rota_reload_refused", "warning", f"{path}:8: too deeply nested (over 32 levels)")]


def test_a_too_large_rota_is_refused_once_by_the_watcher_and_not_again_until_it_changes(tmp_path):
    path = tmp_path / "rota.yaml"
    path.write_text(rota_text())
    holder = RotaHolder(str(path))
    holder.load()

    async def scenario():
        task = asyncio.create_task(holder.watch(interval=0.02))
        with capture_logs() as logs:
            path.write_text(rota_text() + "#" * (2 << 20))
            for _ in range(500):
                if any(e["event"] == "rota_reload_refused" for e in logs):
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
        await cancel_and_wait(task)
        return [e for e in logs if e["event"] == "rota_reload_refused"]

    refused = asyncio.run(scenario())
    assert [e["error"] for e in refused] == [f"{path}: too large (2 MiB, limit 1 MiB)"]
    assert holder.current.agent("0301").name == "王芳"


def test_a_broken_screening_file_at_reload_keeps_the_list_in_force(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text("never_screen: [\"110\"]\n")
    holder = FileHolder(path, TZ)
    old = holder.load()
    for bad in ("never_screen: " + "[" * 50_000 + "\n",
                "screen:\n  - {number: \"1\", reason: x, until: 9999-12-31}\n"):
        path.write_text(bad)
        with capture_logs() as logs:
            assert holder.reload() is False
        assert holder.current is old
        assert [e["event"] for e in logs] == ["screening_file_reload_refused"]
