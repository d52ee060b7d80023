"""No secret the daemon knows reaches stdout or stderr, in either log format, tracebacks included.

The real `pbx-bridge run` is started with an AMI secret, a store URL with a password (PostgreSQL,
trust auth: the password is carried but not checked), an MQTT password and a realtime queue_log
URL with a password; AMI, MQTT and the queue_log database are closed ports, so their failures are
logged; tests/support/leaky_run.py then pushes the secrets down every road a log line can take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
import yaml

from pbx_bridge import logs
from pbx_bridge.config import load_config, secrets_of
from tests.support import postgres
from tests.support.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]
AMI_SECRET = "amiS3cretXyz"
STORE_PASSWORD = "st0re-Pw!q"  # written %-quoted in the URL: st0re-Pw%21q
MQTT_PASSWORD = "mqttPw-77k"
REALTIME_PASSWORD = "rtPw-9931"
AGI_SECRET = "agiS3cret-4471-qqzx"
SECRETS = (AMI_SECRET, STORE_PASSWORD, "st0re-Pw%21q", MQTT_PASSWORD, REALTIME_PASSWORD, AGI_SECRET)


@pytest.fixture(scope="module")
def pg():
    if not postgres.available():
        pytest.skip("PostgreSQL server not installed (or not root)")
    server = postgres.PostgresServer().start()
    yield server
    server.stop()


def _config(tmp_path: Path, pg, fmt: str) -> tuple[Path, dict]:
    config = {
        "pbx": "pbx1",
        "ami": {"host": "127.0.0.1", "port": free_port(), "reconnect_min": 0.2, "reconnect_max": 0.5},
        "agi": {"port": 0},
        "store": {"url": f"postgresql://postgres:st0re-Pw%21q@127.0.0.1:{pg.port}/pbx",
                  "spool_dir": str(tmp_path / "spool")},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": free_port(), "username": "pbx",
                 "reconnect_min": 0.2, "reconnect_max": 0.5},
        "wallboard": {"enabled": False},
        "reports": {"handover_dir": str(tmp_path / "handover"), "output_dir": str(tmp_path / "reports"),
                    "scheduler": False},
        "reconcile": {"enabled": True, "queue_log": None, "state_dir": str(tmp_path / "state"), "interval": 0.5,
                      "realtime": {"url": f"postgresql+psycopg://asterisk@127.0.0.1:{free_port()}/asterisk"}},
        "logging": {"format": fmt, "level": "info"},
    }
    path = tmp_path / f"{fmt}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PBX_BRIDGE_AMI_SECRET=AMI_SECRET, PBX_BRIDGE_AGI_SECRET=AGI_SECRET,
               PBX_BRIDGE_MQTT_PASSWORD=MQTT_PASSWORD,
               PBX_BRIDGE_QUEUE_LOG_URL=config["reconcile"]["realtime"]["url"].replace(
                   "asterisk@", f"asterisk:{REALTIME_PASSWORD}@"))
    env.pop("JOURNAL_STREAM", None)
    env.pop("INVOCATION_ID", None)
    return path, env


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_secret_reaches_stdout_or_stderr_of_the_real_daemon_in_any_log_format(tmp_path, pg, fmt):
    path, env = _config(tmp_path, pg, fmt)
    proc = subprocess.run([sys.executable, "-m", "tests.support.leaky_run", "run", "-c", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert "leak_done" in proc.stderr, out[-3000:]
    # every road was taken, and the tracebacks were rendered (masked), not dropped
    for evidence in ("ami_connection_failed", "mqtt_connect_failed", "queue_log_unreadable",
                     "leak_structlog_traceback", "leak_values", "leak_stdlib_traceback", "leak_warning",
                     "leak_asyncio", "leak_uncaught", "Traceback (most recent call last)", "***"):
        assert evidence in out, f"{evidence!r} missing from the output:\n{out[-3000:]}"
    assert proc.returncode != 0  # the uncaught exception still ends the process as a failure
    for secret in SECRETS:
        assert secret not in out, f"{secret!r} leaked in the {fmt} output:\n{out[-3000:]}"
    if fmt == "json":
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert all(json.loads(line) for line in lines)  # the libraries' records are JSON lines too


def test_every_secret_the_daemon_knows_is_registered(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "ami": {"host": "h"}, "store": {"url": "postgresql://pbx:st0re-Pw%21q@db/pbx"},
        "reconcile": {"realtime": {"url": "mysql+aiomysql://asterisk@db/ast"}}}))
    cfg = load_config(str(path), env={"PBX_BRIDGE_AMI_SECRET": AMI_SECRET, "PBX_BRIDGE_AGI_SECRET": AGI_SECRET,
                                      "PBX_BRIDGE_QUEUE_LOG_URL": f"mysql+aiomysql://asterisk:{REALTIME_PASSWORD}@db/ast"})
    found = secrets_of(cfg, {"PBX_BRIDGE_MQTT_PASSWORD": MQTT_PASSWORD})
    assert set(SECRETS) <= set(found)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_exception_text_and_traceback_are_masked_in_process(capsys, fmt):
    logs.register_secret("inproc-Secret\"x")
    logs.configure(fmt, "info")
    try:
        try:
            raise ValueError("connect to postgresql://u:inproc-Secret\"x@db failed")
        except ValueError:
            structlog.get_logger("t").exception("boom", detail=["inproc-Secret\"x"])
        out = capsys.readouterr().out
        assert "Traceback" in out and "ValueError" in out and "***" in out
        assert "inproc-Secret" not in out
    finally:
        structlog.reset_defaults()
