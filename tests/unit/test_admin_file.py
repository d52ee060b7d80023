"""Every admin file (the rota, the screening list, any later one) is held by one mechanism, so each
behaves the same way when an admin edits it live."""

import asyncio
from zoneinfo import ZoneInfo

from structlog.testing import capture_logs

from pbx_bridge.admin_file import AdminFile
from pbx_bridge.nuisance.file import FileHolder
from pbx_bridge.rota import RotaHolder
from tests.support.tasks import cancel_and_wait

TZ = ZoneInfo("Asia/Shanghai")


def test_the_rota_and_the_screening_file_are_held_by_the_one_admin_file_holder():
    assert issubclass(RotaHolder, AdminFile) and issubclass(FileHolder, AdminFile)


def test_a_screening_file_listener_that_fails_does_not_undo_the_reload(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text("never_screen: [\"110\"]\n")

    def broken(_loaded):
        raise RuntimeError("listener bug")

    holder = FileHolder(path, TZ, on_change=broken)
    holder.load()
    path.write_text("never_screen: [\"120\"]\n")
    with capture_logs() as logs:
        assert holder.reload() is True
    assert holder.current.never == {"120"}
    assert [e["event"] for e in logs] == ["screening_file_reloaded", "screening_file_listener_failed"]


async def test_a_vanished_screening_file_is_reported_once_and_the_list_stays(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text("never_screen: [\"110\"]\n")
    holder = FileHolder(path, TZ)
    old = holder.load()
    with capture_logs() as logs:
        task = asyncio.create_task(holder.watch(interval=0.01))
        path.unlink()
        for _ in range(500):
            if any(e["event"] == "screening_file_missing" for e in logs):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await cancel_and_wait(task)
    assert [e["event"] for e in logs] == ["screening_file_missing"]
    assert holder.current is old


def test_a_new_admin_file_needs_only_its_parse_function_and_error(tmp_path):
    class ListError(Exception):
        pass

    def parse(path, text):
        if "bad" in text:
            raise ListError(f"{path}:1: bad")
        return text.split()

    path = tmp_path / "list.txt"
    path.write_text("a b\n")
    holder = AdminFile(str(path), parse, ListError, summary=lambda v: f"{len(v)} items", events="list", noun="list")
    assert holder.load() == ["a", "b"]
    path.write_text("bad\n")
    with capture_logs() as logs:
        assert holder.reload() == (False, f"{path}:1: bad (the previous list stays in force)")
    assert [e["event"] for e in logs] == ["list_reload_refused"]
    path.write_text("c\n")
    assert holder.reload() == (True, "ok: 1 items") and holder.version == 2
