"""The few lines of the sd_notify protocol we need (READY, WATCHDOG, STATUS, STOPPING).

Written here rather than pulled in: the protocol is one datagram on a unix socket, and the
packages that wrap it are either unmaintained or need libsystemd headers to build.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send `FIELD=value` lines to systemd; a no-op (False) when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)
        try:
            sock.sendto("\n".join(fields).encode(), address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd asked for, in seconds, or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
