"""The Lab: a real Asterisk 22 in a Debian sid chroot (see lab/build.sh)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from .ami import AMI

REPO = Path(__file__).resolve().parent.parent
LAB_PKG = Path(__file__).resolve().parent
CONF_IN_CHROOT = "/etc/pbx-lab"


class LabError(RuntimeError):
    pass


LOCK_PATH = Path(os.environ.get("PBX_LAB_LOCK", "/run/lock/pbx-bridge-lab.lock"))


@contextlib.contextmanager
def exclusive_lab():
    """Hold the machine's one lab for the duration: its ports (AMI 5038, SIP 5060, FastAGI 4573)
    are fixed, so a second test session waits here instead of stopping the first one's Asterisk."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_PATH, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for the lab (held by another session; {LOCK_PATH})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Lab:
    ami_host = "127.0.0.1"
    ami_port = 5038
    # the SHIPPED manager user (dialplan/manager_pbx_bridge.conf, filtered); lab secret
    ami_user = "pbx-bridge"
    ami_secret = "pbx-lab-secret"
    # lab-only user: same rights, no event filter (drives traffic, records raw streams)
    raw_user = "pbx-lab-raw"
    raw_secret = "pbx-lab-raw-secret"
    # the FastAGI secret of lab/conf/pbx_bridge_agi_secret.conf (PBXB_AGI_SECRET in [globals])
    agi_secret = "pbx-lab-agi-secret"
    sip_host = "127.0.0.1"
    sip_port = 5060

    def __init__(self, lab_dir: str | os.PathLike | None = None):
        self.lab_dir = Path(lab_dir or os.environ.get("PBX_LAB_DIR", "/var/cache/pbx-bridge-lab"))
        self.root = self.lab_dir / "chroot"
        self.conf_dir = self.root / CONF_IN_CHROOT.lstrip("/")
        self.queue_log_path = self.root / "var/log/asterisk/queue_log"
        self.messages_log_path = self.root / "var/log/asterisk/messages.log"
        self.console_log_path = self.lab_dir / "asterisk.console.log"
        self.pid_path = self.lab_dir / "asterisk.pid"
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None

    # -- build -------------------------------------------------------------------
    def is_built(self) -> bool:
        return (self.root / ".lab-ready").exists()

    def ensure(self) -> "Lab":
        """Build the chroot if needed (runs lab/build.sh; cached)."""
        env = dict(os.environ, PBX_LAB_DIR=str(self.lab_dir))
        r = subprocess.run(["bash", str(LAB_PKG / "build.sh")], env=env)
        if r.returncode != 0:
            raise LabError(f"lab/build.sh failed (exit {r.returncode})")
        return self

    # -- helpers -----------------------------------------------------------------
    def _chroot(self, *args, **kw):
        return subprocess.run(["chroot", str(self.root), *args], **kw)

    def _asterisk_rx(self, cmd: str, timeout=30) -> subprocess.CompletedProcess:
        return self._chroot("/usr/sbin/asterisk", "-C", f"{CONF_IN_CHROOT}/asterisk.conf",
                            "-rx", cmd, capture_output=True, text=True, timeout=timeout)

    def _proc_mounted(self) -> bool:
        target = str(self.root / "proc")
        with open("/proc/mounts") as f:
            return any(line.split()[1] == target for line in f)

    def _pid(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
            # make sure it is our asterisk (pid reuse)
            if "asterisk" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
        except (OSError, ValueError):
            pass
        return None

    def is_running(self) -> bool:
        return self._pid() is not None

    def install_config(self):
        """Copy repo dialplan/*.conf (shipped) and lab/conf/*.conf into the chroot."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for old in self.conf_dir.glob("*.conf"):
            old.unlink()
        for src in sorted((REPO / "dialplan").glob("*.conf")) + sorted((LAB_PKG / "conf").glob("*.conf")):
            shutil.copy(src, self.conf_dir / src.name)

    def _forget_queue_members(self):
        """The shipped queues file keeps dynamic members across restarts (persistentmembers = yes),
        so an agent an earlier session left logged in (a test stopped half-way, another helper's run)
        would be back in this Asterisk's queues. Every start begins from the lab's queue files."""
        db = self.root / "var/lib/asterisk/astdb.sqlite3"
        if db.exists():
            with contextlib.closing(sqlite3.connect(db)) as conn, conn:
                conn.execute("DELETE FROM astdb WHERE key LIKE '/Queue/PersistentMembers/%'")

    # -- lifecycle ---------------------------------------------------------------
    def start(self, reuse: bool = False, timeout: float = 60) -> "Lab":
        """Start Asterisk (fresh: a running lab Asterisk is stopped first unless reuse=True,
        in which case the config is re-copied and reloaded)."""
        if not self.is_built():
            self.ensure()
        if self.is_running():
            if reuse:
                self.install_config()
                self.cli("core reload")
                return self
            self.stop()
        t0 = time.monotonic()
        self.install_config()
        self._forget_queue_members()
        self._chroot("mkdir", "-p", "/var/run/asterisk", "/var/log/asterisk",
                     "/var/lib/asterisk", "/var/spool/asterisk", "/var/cache/asterisk", check=True)
        self._chroot("chown", "-R", "root:root", "/var/run/asterisk", "/var/log/asterisk",
                     "/var/lib/asterisk", "/var/spool/asterisk", "/var/cache/asterisk", check=True)
        # a stale control socket would make -rx talk to nobody
        for s in ("asterisk.ctl", "asterisk.pid"):
            self._chroot("rm", "-f", f"/var/run/asterisk/{s}")
        if not self._proc_mounted():
            subprocess.run(["mount", "-t", "proc", "proc", str(self.root / "proc")], check=True)
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.console_log_path, "ab")
        self.proc = subprocess.Popen(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-f", "-C",
             f"{CONF_IN_CHROOT}/asterisk.conf"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.pid_path.write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.console_log_path.read_text(errors="replace")[-3000:]
                raise LabError(f"asterisk exited with {self.proc.returncode}:\n{tail}")
            try:
                r = self._asterisk_rx("core waitfullybooted", timeout=max(1, deadline - time.monotonic()))
                if r.returncode == 0 and "fully booted" in r.stdout.lower():
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise LabError("asterisk did not fully boot in time")
            time.sleep(0.2)
        # AMI accepting logins?
        with AMI(self.ami_host, self.ami_port, self.raw_user, self.raw_secret, events=False) as a:
            a.action("Ping")
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self, timeout: float = 15):
        pid = self._pid()
        if pid is not None:
            try:
                self._asterisk_rx("core stop now", timeout=10)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + timeout
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                self._reap(pid)
        self.proc = None
        try:
            self.pid_path.unlink()
        except FileNotFoundError:
            pass
        if self._proc_mounted():
            subprocess.run(["umount", "-l", str(self.root / "proc")])

    def _alive(self, pid) -> bool:
        if self.proc is not None and self.proc.pid == pid:
            return self.proc.poll() is None
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        try:  # zombie?
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    def _reap(self, pid):
        if self.proc is not None and self.proc.pid == pid:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def restart(self) -> "Lab":
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- use ---------------------------------------------------------------------
    def cli(self, cmd: str, timeout=30) -> str:
        r = self._asterisk_rx(cmd, timeout=timeout)
        if r.returncode != 0:
            raise LabError(f"asterisk -rx {cmd!r} failed: {r.stderr or r.stdout}")
        return r.stdout

    def clear_queue_log(self):
        """Empty the queue_log (Asterisk keeps the file open in append mode)."""
        if self.queue_log_path.exists():
            with open(self.queue_log_path, "r+b") as f:
                f.truncate(0)

    def queue_log_lines(self) -> list[str]:
        if not self.queue_log_path.exists():
            return []
        return self.queue_log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def ami(self, raw: bool = True, events: bool = True) -> AMI:
        """A logged-in lab AMI connection (raw=True: unfiltered lab user)."""
        if raw:
            return AMI(self.ami_host, self.ami_port, self.raw_user, self.raw_secret, events=events)
        return AMI(self.ami_host, self.ami_port, self.ami_user, self.ami_secret, events=events)
