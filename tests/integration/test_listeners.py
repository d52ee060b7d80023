"""The real daemon's listeners under a flood of idle wallboard connections, and at a port in use.

No lab needed: AMI points at a closed port (the daemon keeps retrying, which is fine here).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.agi_peer import AgiPeer
from tests.support.daemon import DaemonProcess

AGENT_PLAN = ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
NOFILE = 1024  # Debian's and systemd's default soft limit: the daemon as it runs without LimitNOFILE=
IDLE = 1100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daemon(tmp_path, agi_port: int, wallboard_port: int) -> DaemonProcess:
    return DaemonProcess(
        tmp_path, f"sqlite:///{tmp_path}/store.db",
        ami={"port": free_port()},  # nothing listens there
        agi={"port": agi_port},
        wallboard={"enabled": True, "host": "127.0.0.1", "port": wallboard_port},
    )


def low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def tracebacks(proc: DaemonProcess) -> list[str]:
    text = proc.log_path.read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines()
            if "Traceback" in line or "exc_info" in line or '"exception"' in line]


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that never send a byte. Non-blocking connects: a server that stops
    accepting must not hang the test in connect()."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        err = sock.connect_ex(("127.0.0.1", port))
        assert err in (0, errno.EINPROGRESS), errno.errorcode.get(err)
        socks.append(sock)
    return socks


def wait_connected(socks: list[socket.socket], timeout: float) -> int:
    """Wait (bounded) until the kernel has completed every connect; how many did. A daemon out of
    descriptors stops accepting, and the connections beyond its backlog never complete."""
    poller = select.poll()
    pending = {sock.fileno(): sock for sock in socks}
    for fd in pending:
        poller.register(fd, select.POLLOUT)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(500):
            poller.unregister(fd)
            del pending[fd]
    return len(socks) - len(pending)


def wait_fds_settled(pid: int, timeout: float = 60) -> int:
    """Wait (bounded) until the daemon's open descriptors stop changing: it has taken in the flood,
    whatever it does with it; their number."""
    fd_dir = f"/proc/{pid}/fd"
    counts: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (len(counts) < 4 or len(set(counts[-4:])) > 1):
        counts.append(len(os.listdir(fd_dir)))
        time.sleep(0.2)
    return counts[-1]


def test_a_flood_of_idle_wallboard_connections_leaves_fastagi_serving_without_tracebacks(tmp_path):
    """1,100 idle connections to the wallboard of a daemon limited to 1,024 descriptors: the
    wallboard holds its cap and closes the rest at once; a ring_twice session on FastAGI gets its
    commands; the log has no traceback (asyncio's own server logged one per failed accept)."""
    agi_port, wallboard_port = free_port(), free_port()
    proc = daemon(tmp_path, agi_port, wallboard_port).start(wait_connected=False, preexec_fn=low_nofile)
    proc.wait_for("fastagi_listening")
    proc.wait_for("wallboard_listening")
    idle: list[socket.socket] = []
    try:
        # In waves the daemon takes in one by one: a burst beyond the listening backlog would wait
        # in the kernel (SYN-ACK retries) and reach the daemon only later.
        for _ in range(IDLE // 100):
            wave = open_idle(wallboard_port, 100)
            idle += wave
            wait_connected(wave, 20)  # all of them on a daemon that copes; on one that does not, on regardless
            wait_fds_settled(proc.proc.pid)
        peer = AgiPeer.fastagi("ring_twice", ["agent"], port=agi_port)

        async def session() -> list[str]:
            async with asyncio.timeout(60):  # liveness only
                return await peer.call_fastagi("127.0.0.1", agi_port)

        assert asyncio.run(session()) == AGENT_PLAN
        assert proc.proc.poll() is None, "the daemon is still running"
    finally:
        for sock in idle:
            sock.close()
    # the idle ones gone, the page is served again
    with urllib.request.urlopen(f"http://127.0.0.1:{wallboard_port}/", timeout=30) as answer:
        assert answer.status == 200
    assert proc.stop() == 0
    assert tracebacks(proc) == []
    refused = proc.wait_for("wallboard_connection_refused")
    assert refused[0]["limit"] == 64 and len(refused) == 1, "logged once, not once per connection"


@pytest.mark.parametrize("which", ["agi", "wallboard"])
def test_a_port_in_use_at_start_is_one_stderr_line_and_exit_2(tmp_path, which):
    ports = {"agi": free_port(), "wallboard": free_port()}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[which]))
        holder.listen()
        proc = daemon(tmp_path, ports["agi"], ports["wallboard"])
        result = subprocess.run([sys.executable, "-m", "pbx_bridge", "run", "-c", str(proc.config_path)],
                                capture_output=True, text=True, env=proc.env, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        f"pbx-bridge: {which}: cannot listen on 127.0.0.1:{ports[which]}: Address already in use"]
    assert "Traceback" not in result.stdout
    for line in result.stdout.splitlines():
        assert "exception" not in json.loads(line), line
