"""What systemd and an admin see: a broken admin file at start is one line on stderr and exit 2
(so `Restart=on-failure` and `config check` both tell the truth); the same file broken while the
daemon runs is refused with a warning and the daemon keeps running on the old version.

Each test runs the real command as a child process, the way systemd and the admin do."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pbx_bridge.rota.model import hash_pin
from tests.support.agi_peer import AGI_SECRET

REPO = Path(__file__).resolve().parents[2]
HASH = hash_pin("1234")
ROTA = (f"start: 2026-01-05\ncompanies:\n  - id: jingan\n    name: 静安\n    mailboxes: [\"8001\"]\n"
        f"    agents:\n      - {{employee_no: \"0301\", name: 王芳, endpoint: PJSIP/a301, pin_hash: \"{HASH}\"}}\n")
DEEP = "[" * 100_000 + "]" * 100_000


def closed_port() -> int:
    """A port nothing listens on: the daemon's AMI client just keeps retrying it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp_path: Path, **sections) -> Path:
    config = {
        "pbx": "t1", "timezone": "Asia/Shanghai",
        "ami": {"host": "127.0.0.1", "port": closed_port(), "username": "u", "reconnect_min": 0.5,
                "reconnect_max": 2},
        "agi": {"host": "127.0.0.1", "port": 0},
        "store": {"url": f"sqlite:///{tmp_path}/store.db", "spool_dir": str(tmp_path / "spool")},
        "reports": {"handover_dir": str(tmp_path / "handover"), "output_dir": str(tmp_path / "reports")},
        "reconcile": {"enabled": False, "queue_log": None, "state_dir": str(tmp_path / "state")},
        "logging": {"format": "json", "level": "info"},
    }
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def with_rota(tmp_path: Path, text: str = ROTA) -> dict:
    (tmp_path / "rota.yaml").write_text(text, encoding="utf-8")
    return {"voicemail": {"enabled": True, "rota": str(tmp_path / "rota.yaml"), "spool_dir": str(tmp_path / "vm"),
                          "asterisk_spool_dir": str(tmp_path / "vm")}}


def pbx_bridge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pbx_bridge", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PBX_BRIDGE_AMI_SECRET": "s3cret", "PBX_BRIDGE_AGI_SECRET": AGI_SECRET})


def assert_one_line(done: subprocess.CompletedProcess, starts: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.splitlines() == [done.stderr.strip()], f"not one line: {done.stderr[-2000:]}"
    assert done.stderr.startswith(starts), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_run_with_a_broken_screening_file_exits_2_with_one_line(tmp_path):
    (tmp_path / "screening.yaml").write_text("screen:\n  - number: \"1\"\n    reasn: x\n    reason: x\n")
    config = write_config(tmp_path, nuisance={"file": str(tmp_path / "screening.yaml")})
    done = pbx_bridge("run", "-c", str(config))
    assert_one_line(done, f"pbx-bridge: screening file error: {tmp_path}/screening.yaml:3: screen[0].reasn: "
                          "unknown key")


def test_config_check_exits_2_when_the_rota_it_names_is_broken(tmp_path):
    config = write_config(tmp_path, **with_rota(tmp_path, ROTA + "colour: red\n"))
    done = pbx_bridge("config", "check", "-c", str(config))
    assert_one_line(done, f"pbx-bridge: rota error: {tmp_path}/rota.yaml:8: colour: unknown key")
    assert done.stdout == "", "no `ok` when a file is broken"


def test_config_check_exits_2_when_the_screening_file_it_names_is_broken(tmp_path):
    (tmp_path / "screening.yaml").write_text("never_screen: " + DEEP + "\n")
    config = write_config(tmp_path, nuisance={"file": str(tmp_path / "screening.yaml")})
    done = pbx_bridge("config", "check", "-c", str(config))
    assert_one_line(done, f"pbx-bridge: screening file error: {tmp_path}/screening.yaml:1: too deeply nested")


def test_config_check_says_ok_for_each_file_only_when_all_are_fine(tmp_path):
    (tmp_path / "screening.yaml").write_text("never_screen: [\"110\"]\n")
    config = write_config(tmp_path, nuisance={"file": str(tmp_path / "screening.yaml")}, **with_rota(tmp_path))
    done = pbx_bridge("config", "check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{config}: ok (pbx t1, AMI 127.0.0.1:{yaml.safe_load(config.read_text())['ami']['port']})",
        f"{tmp_path}/rota.yaml: ok (1 companies, 1 agents)",
        f"{tmp_path}/screening.yaml: ok (0 screened, 1 never screened)",
    ]


def test_config_check_reports_a_rota_date_range_of_millennia_with_its_line(tmp_path):
    rota = ROTA + "calendar:\n  extra_holidays:\n    - 0001-01-01..9999-12-31\n"
    done = pbx_bridge("config", "check", "-c", str(write_config(tmp_path, **with_rota(tmp_path, rota))))
    assert_one_line(done, f"pbx-bridge: rota error: {tmp_path}/rota.yaml:10: calendar.extra_holidays[0]: "
                          "0001-01-01 is outside the years 1970..2100")


def test_a_5_MB_config_is_refused_as_too_large(tmp_path):
    config = write_config(tmp_path)
    with config.open("a") as fh:
        fh.write("# padding\n" * 500_000)
    done = pbx_bridge("config", "check", "-c", str(config))
    assert_one_line(done, f"pbx-bridge: config error: {config}: too large (4.8 MiB, limit 1 MiB)")


@pytest.mark.parametrize("command", ["run", "config check"])
def test_a_deeply_nested_config_exits_2_with_one_line_and_no_traceback(tmp_path, command):
    config = write_config(tmp_path)
    with config.open("a") as fh:
        fh.write(f"callbacks: {DEEP}\n")
    done = pbx_bridge(*command.split(), "-c", str(config))
    assert_one_line(done, f"pbx-bridge: config error: {config}:")
    assert done.stderr.strip().endswith("too deeply nested (over 32 levels)")


def test_secret_file_dev_zero_exits_2_with_one_line(tmp_path):
    config = write_config(tmp_path, ami={"secret_file": "/dev/zero"})
    done = subprocess.run([sys.executable, "-m", "pbx_bridge", "run", "-c", str(config)], capture_output=True,
                          text=True, timeout=120, cwd=REPO,
                          env={k: v for k, v in os.environ.items() if k != "PBX_BRIDGE_AMI_SECRET"})
    assert_one_line(done, f"pbx-bridge: config error: {config}:")
    assert done.stderr.strip().endswith("ami.secret_file: /dev/zero: not a regular file")


# -- while running --------------------------------------------------------------------------------

def log_events(path: Path) -> list[dict]:
    out = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            out.append({"event": "<non-json>", "raw": raw})
    return out


def wait_for_event(proc: subprocess.Popen, log: Path, event: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in log_events(log) if e.get("event") == event]
        if found:
            return found[0]
        assert proc.poll() is None, f"the daemon exited {proc.returncode}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {event!r} within {timeout} s: {log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["sighup", "file watcher"])
def test_the_running_daemon_refuses_a_deeply_nested_rota_and_keeps_running(tmp_path, how):
    config = write_config(tmp_path, **with_rota(tmp_path))
    log = tmp_path / "daemon.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pbx_bridge", "run", "-c", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PBX_BRIDGE_AMI_SECRET": "s3cret", "PBX_BRIDGE_AGI_SECRET": AGI_SECRET})
    try:
        wait_for_event(proc, log, "daemon_ready")
        (tmp_path / "rota.yaml").write_text(ROTA + f"shifts: {DEEP}\n", encoding="utf-8")
        if how == "sighup":
            proc.send_signal(signal.SIGHUP)
        refused = wait_for_event(proc, log, "rota_reload_refused")
        assert refused["error"] == f"{tmp_path}/rota.yaml:8: too deeply nested (over 32 levels)"
        assert refused["level"] == "warning" and "previous rota stays in force" in refused["kept"]
        time.sleep(3)  # past the watcher's next poll (2 s): it must not take the daemon down either
        assert proc.poll() is None, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
