"""The rota in force: reload on demand or on a file change; a broken edit keeps the old rota."""

import asyncio

import pytest
from structlog.testing import capture_logs

from pbx_bridge.rota import RotaError, RotaHolder
from pbx_bridge.rota.model import hash_pin
from tests.support.tasks import cancel_and_wait

HASH = hash_pin("1234")


def text(name="王芳", extra=""):
    return (f"start: 2026-01-05\ncompanies:\n  - id: jingan\n    name: 静安\n    mailboxes: [\"8001\"]\n"
            f"    agents:\n      - {{employee_no: \"0301\", name: {name}, endpoint: PJSIP/a301, pin_hash: \"{HASH}\"}}\n"
            + extra)


@pytest.fixture
def rota_file(tmp_path):
    path = tmp_path / "rota.yaml"
    path.write_text(text(), encoding="utf-8")
    return path


def test_load_raises_the_one_line_error(tmp_path):
    path = tmp_path / "rota.yaml"
    path.write_text(text(extra="colour: red\n"), encoding="utf-8")
    with pytest.raises(RotaError, match=rf"^{path}:8: colour: unknown key$"):
        RotaHolder(str(path)).load()


def test_reload_keeps_the_old_rota_on_a_broken_edit(rota_file):
    holder = RotaHolder(str(rota_file))
    old = holder.load()
    rota_file.write_text(text(name="李娜", extra="rounds: [[jingan], [putuo]]\n"), encoding="utf-8")
    with capture_logs() as logs:
        ok, message = holder.reload()
    assert not ok
    assert message.startswith(f"{rota_file}:8: rounds[1][0]: unknown company 'putuo'")
    assert "previous rota stays in force" in message
    assert holder.current is old and holder.current.agent("0301").name == "王芳"
    refused = [e for e in logs if e["event"] == "rota_reload_refused"]
    assert refused and refused[0]["error"].startswith(f"{rota_file}:8: rounds[1][0]")
    assert refused[0]["log_level"] == "warning"


def test_reload_puts_a_good_edit_in_force_and_tells_listeners(rota_file):
    seen = []
    holder = RotaHolder(str(rota_file), on_change=seen.append)
    holder.load()
    rota_file.write_text(text(name="李娜"), encoding="utf-8")
    assert holder.reload() == (True, "ok: 1 companies, 1 agents, 1 rounds")
    assert holder.current.agent("0301").name == "李娜"
    assert seen == [holder.current] and holder.version == 2


def test_reload_of_a_vanished_file_keeps_the_rota(rota_file):
    holder = RotaHolder(str(rota_file))
    holder.load()
    rota_file.unlink()
    ok, message = holder.reload()
    assert not ok and "cannot read" in message and holder.loaded


async def wait_for(predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_watch_picks_up_an_edit_and_refuses_a_broken_one(rota_file):
    holder = RotaHolder(str(rota_file))
    holder.load()
    task = asyncio.create_task(holder.watch(interval=0.02))
    try:
        rota_file.write_text(text(name="李娜"), encoding="utf-8")
        await wait_for(lambda: holder.version == 2)
        assert holder.current.agent("0301").name == "李娜"
        with capture_logs() as logs:
            rota_file.write_text(text(name="张伟", extra="bogus: 1\n"), encoding="utf-8")
            await wait_for(lambda: any(e["event"] == "rota_reload_refused" for e in logs))
            await asyncio.sleep(0.1)  # refused once, not again at every poll
        assert sum(e["event"] == "rota_reload_refused" for e in logs) == 1
        assert holder.current.agent("0301").name == "李娜" and not task.done()
        rota_file.write_text(text(name="赵磊"), encoding="utf-8")
        await wait_for(lambda: holder.version == 3)
    finally:
        await cancel_and_wait(task)


async def test_watch_ends_by_cancellation_while_it_waits(rota_file):
    holder = RotaHolder(str(rota_file))
    holder.load()
    task = asyncio.create_task(holder.watch(interval=60))
    await asyncio.sleep(0.01)
    await cancel_and_wait(task)
