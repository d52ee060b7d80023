"""Runs the real `pbx-bridge run` as a child process, the way systemd would, for lab tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support.agi_peer import AGI_SECRET


class DaemonProcess:
    running: list["DaemonProcess"] = []  # stopped by the integration conftest after each test

    def __init__(self, workdir: Path, store_url: str, pbx: str = "pbx1", secret: str = "pbx-lab-secret",
                 agi_secret: str = AGI_SECRET, **overrides) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{pbx}.yaml"
        self.log_path = self.workdir / f"{pbx}.log"
        config = {
            "pbx": pbx,
            "timezone": "Asia/Shanghai",
            "ami": {"host": "127.0.0.1", "port": 5038, "username": "pbx-bridge", "ping_interval": 2,
                    "ping_timeout": 2, "reconnect_min": 0.5, "reconnect_max": 2},
            "agi": {"port": 4573},
            # each daemon its own spool: the default /var/lib one is locked by whoever takes it first
            "store": {"url": store_url, "flush_interval": 0.2, "spool_dir": str(self.workdir / f"{pbx}-spool")},
            "logging": {"format": "json", "level": "info"},
            "reports": {"handover_dir": str(self.workdir / "handover"), "output_dir": str(self.workdir / "reports")},
            # Off unless a test turns it on: the lab tests compare what AMI gave with queue_log,
            # which reconciliation would make true by itself. Never the host's /var/lib.
            "reconcile": {"enabled": False, "queue_log": None, "state_dir": str(self.workdir / "state")},
        }
        for key, value in overrides.items():
            config.setdefault(key, {}).update(value)
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
        self.env = dict(os.environ, PBX_BRIDGE_AMI_SECRET=secret, PBX_BRIDGE_AGI_SECRET=agi_secret)
        self.proc: subprocess.Popen | None = None
        self.secret = secret

    def start(self, wait_connected: bool = True, preexec_fn=None, module: str = "pbx_bridge") -> "DaemonProcess":
        """`preexec_fn`: run in the child before the daemon, e.g. to lower its RLIMIT_NOFILE.
        `module`: what `python -m` runs; a tests/support wrapper of the real command to inject a fault."""
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "run", "-c", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=preexec_fn,
        )
        DaemonProcess.running.append(self)
        if wait_connected:
            self.wait_for("ami_connected")
        return self

    def lines(self) -> list[dict]:
        out = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                out.append({"event": "<non-json>", "raw": raw})
        return out

    def wait_for(self, event: str, count: int = 1, timeout: float = 30, **fields) -> list[dict]:
        """The log lines of `event` (each with every one of `fields`), once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines()
                     if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())]
            if len(found) >= count:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event!r} {fields} x{count} in the daemon log within {timeout} s")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        self.proc = None
        return code

    def sigterm(self, within: float = 25) -> int:
        """SIGTERM, as `systemctl stop` sends it; the exit status. A daemon still running after
        `within` s (a hang, not slowness: the unit's TimeoutStopSec is 20) is killed and fails the test."""
        assert self.proc is not None, "not started"
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {within} s after SIGTERM: {self.log_path.read_text()[-3000:]}")
        self._log.close()
        self.proc = None
        return code

    def exited(self, within: float) -> int:
        """Waits for the daemon to end by itself; its exit status (a hang fails the test)."""
        assert self.proc is not None, "not started"
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {within} s: {self.log_path.read_text()[-3000:]}")
        self._log.close()
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no flush, no goodbye."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self._log.close()
        self.proc = None

    def restart(self, wait_connected: bool = True) -> "DaemonProcess":
        """Start again on the same config, store and log (the log is appended to)."""
        before = sum(1 for line in self.lines() if line.get("event") == "ami_connected")
        self.start(wait_connected=False)
        if wait_connected:
            self.wait_for("ami_connected", count=before + 1)
        return self

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`pbx-bridge ARGS -c <this daemon's config>`, as an admin on the host would run it."""
        return subprocess.run([sys.executable, "-m", "pbx_bridge", *args, "-c", str(self.config_path)],
                              capture_output=True, text=True, env=self.env, timeout=timeout)

    def export(self, kind: str, first: str, last: str, fmt: str = "jsonl") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "pbx_bridge", kind, "export", "-c", str(self.config_path), "--from", first,
             "--to", last, "--format", fmt],
            capture_output=True, text=True, env=self.env, check=True,
        )
        return result.stdout
