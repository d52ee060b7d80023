"""A throwaway PostgreSQL server (Debian's postgresql package) on 127.0.0.1 for the tests.

PostgreSQL refuses to run as root, so the cluster lives in a directory owned by the `postgres`
user the Debian package creates, and is started with runuser.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server not installed: apt-get install postgresql")
    return found[-1]


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        # A free port unless told: several test sessions (worktrees, CI) may run side by side.
        self.port = port or _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-pg-"))
        self.data = self.dir / "data"

    def _as_postgres(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=check, capture_output=True, text=True)

    def start(self) -> "PostgresServer":
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.resume()
        self._as_postgres(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "pbx")
        return self

    def resume(self) -> None:
        self._as_postgres(
            _bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off", "start",
        )
        deadline = time.monotonic() + 20
        while self._as_postgres(_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start: " + (self.dir / "log").read_text()[-2000:])
            time.sleep(0.2)

    def pause(self) -> None:
        self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def stop(self) -> None:
        self.pause()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/pbx"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def available() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/postgres")) and os.geteuid() == 0
