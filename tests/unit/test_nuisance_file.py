"""The admins' screening file: numbers stay text, errors name file:line:key, a broken edit is
refused and the list in force stays, a good edit applies."""

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from pbx_bridge.nuisance.file import FileHolder, ScreeningFileError, load_file
from tests.support.tasks import cancel_and_wait

TZ = ZoneInfo("Asia/Shanghai")
GOOD = """screen:
  - number: 13800138000
    reason: threats
  - number: 021-6000-0002
    until: 2026-12-31
    reason: fax every night
never_screen:
  - 0301
  - +8613900000000
"""


def test_numbers_are_read_as_text_and_a_day_means_through_its_end():
    loaded = load_file("s.yaml", TZ, GOOD)
    assert [(e.number, e.until, e.where) for e in loaded.listed] == [
        ("13800138000", None, "s.yaml:2"),
        ("02160000002", datetime(2027, 1, 1, tzinfo=TZ), "s.yaml:4"),
    ]
    assert loaded.never == {"0301", "+8613900000000"}, "no octal, no integer, the + kept"


@pytest.mark.parametrize("text, error", [
    ("screen:\n  - number: 1\n    reasn: x\n", "s.yaml:3: screen[0].reasn: unknown key"),
    ("screen:\n  - number: 1\n", "s.yaml:2: screen[0].reason: required key is missing"),
    ("screen:\n  - number: call me\n    reason: x\n",
     "s.yaml:2: screen[0].number: 'call me' is not a phone number (digits, optionally a leading +)"),
    ("screen:\n  - {number: 1, reason: x}\n  - {number: 1, reason: y}\n", "s.yaml:3: screen[1].number: 1 is listed twice"),
    ("screen:\n  - {number: 1, reason: x}\nnever_screen:\n  - 2\n  - 1\n",
     "s.yaml:5: never_screen[1]: 1 is also in screen: a number cannot be both"),
    ("never_screen:\n  - 110\n  - x\n", "s.yaml:3: never_screen[1]: 'x' is not a phone number"),
    ("screen:\n  - {number: 1, reason: x, until: 2026-13-01}\n", "s.yaml:2: screen[0].until: "),
    ("screen: [\n", "s.yaml:2: invalid YAML"),
    ("blocked:\n  - 1\n", "s.yaml:1: blocked: unknown key"),
])
def test_errors_name_the_file_the_line_and_the_key(text, error):
    with pytest.raises(ScreeningFileError) as caught:
        load_file("s.yaml", TZ, text)
    assert any(line.startswith(error) for line in str(caught.value).splitlines())  # every error, one a line


def test_a_broken_edit_is_refused_and_the_list_in_force_stays(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text(GOOD)
    seen = []
    holder = FileHolder(path, TZ, on_change=seen.append)
    old = holder.load()
    path.write_text(GOOD + "  - nonsense\n")
    with capture_logs() as logs:
        assert holder.reload() is False
    assert holder.current is old and seen == []
    refused = [e for e in logs if e["event"] == "screening_file_reload_refused"]
    assert refused[0]["error"].startswith(f"{path}:10: never_screen[2]")
    path.write_text(GOOD.replace("threats", "threats, reported"))
    assert holder.reload() is True
    assert seen == [holder.current] and holder.current.listed[0].reason == "threats, reported"


def test_a_missing_file_at_start_is_an_error(tmp_path):
    with pytest.raises(ScreeningFileError, match="cannot read"):
        FileHolder(tmp_path / "none.yaml", TZ).load()


async def test_the_watch_applies_a_changed_file(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text(GOOD)
    seen = []
    holder = FileHolder(path, TZ, on_change=seen.append)
    holder.load()
    task = asyncio.create_task(holder.watch(interval=0.02))
    await asyncio.sleep(0.1)
    assert seen == [], "an unchanged file is not reloaded"
    path.write_text("never_screen: [110]\n")
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    await cancel_and_wait(task)
    assert holder.current.never == {"110"} and holder.current.listed == []
