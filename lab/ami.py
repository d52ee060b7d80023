"""Minimal blocking AMI client for the lab (stdlib only; no pbx_bridge imports)."""
from __future__ import annotations

import itertools
import socket
import time
from collections import deque

_ids = itertools.count(1)


def parse_message(block: bytes) -> dict:
    """Parse one AMI message (without the final blank line) into a dict of str.
    Repeated headers are joined with '\\n' (e.g. ChanVariable)."""
    msg: dict = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep:
            msg.setdefault("__text__", []).append(line)
            continue
        k, v = k.strip(), v.lstrip(" ")
        msg[k] = msg[k] + "\n" + v if k in msg else v
    return msg


def split_messages(data: bytes):
    """Split a raw AMI byte stream (after the banner) into parsed messages."""
    for block in data.split(b"\r\n\r\n"):
        if block.strip():
            yield parse_message(block)


class AMIError(RuntimeError):
    pass


class AMI:
    """Blocking AMI connection. Events are queued in .events (parsed dicts).

    ami = AMI("127.0.0.1", 5038, "pbx-lab-raw", "pbx-lab-raw-secret")
    ami.action("Ping")                      -> response dict
    ami.action("DBGet", Family="lab", Key="201/ring", collect="DBGetComplete")
    ami.wait_event(lambda e: e.get("Event") == "Hangup", timeout=10)
    """

    def __init__(self, host="127.0.0.1", port=5038, user=None, secret=None,
                 events=True, timeout=10.0, connect_timeout=10.0):
        self.sock = None
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b""
        self.raw_log = None            # if a list: every received chunk is appended
        self.events: deque = deque()
        self.banner = self._read_line()
        if user is not None:
            r = self.action("Login", Username=user, Secret=secret,
                            Events="on" if events else "off")
            if r.get("Response") != "Success":
                raise AMIError(f"AMI login failed: {r}")

    # -- low level ---------------------------------------------------------------
    def _fill(self, timeout=None) -> bool:
        if timeout is not None:
            self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            raise EOFError("AMI connection closed")
        if self.raw_log is not None:
            self.raw_log.append(chunk)
        self.buf += chunk
        return True

    def _read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill(10)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_message(self, timeout=None):
        """Next parsed message, or None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self._fill(left if left is not None else 30)
        block, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return parse_message(block)

    def send(self, action: str, **headers) -> str:
        aid = headers.pop("ActionID", None) or f"lab-{next(_ids)}"
        lines = [f"Action: {action}", f"ActionID: {aid}"]
        for k, v in headers.items():
            if v is None:
                continue
            vals = v if isinstance(v, (list, tuple)) else [v]
            for one in vals:
                lines.append(f"{k}: {one}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        return aid

    # -- high level --------------------------------------------------------------
    def action(self, action: str, timeout=10.0, collect: str | None = None, **headers):
        """Send an action and return its Response dict. With collect='XComplete', the
        list events up to that event are returned in response['__events__']."""
        aid = self.send(action, **headers)
        deadline = time.monotonic() + timeout
        resp, items = None, []
        while True:
            m = self.read_message(deadline - time.monotonic())
            if m is None:
                raise AMIError(f"timeout waiting for response to {action}")
            if m.get("ActionID") == aid:
                if "Response" in m and resp is None:
                    resp = m
                    if collect is None or m.get("Response") != "Success":
                        return resp
                elif collect and m.get("Event") == collect:
                    resp["__events__"] = items
                    return resp
                elif "Event" in m:
                    items.append(m)
                continue
            if "Event" in m:
                self.events.append(m)

    def wait_event(self, pred, timeout=10.0):
        """Return the first queued/arriving event matching pred (consumed), or None."""
        for i, e in enumerate(self.events):
            if pred(e):
                del self.events[i]
                return e
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            m = self.read_message(left)
            if m is None:
                return None
            if "Event" in m:
                if pred(m):
                    return m
                self.events.append(m)

    def pump(self, seconds: float):
        """Read events for `seconds` into .events."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            m = self.read_message(left)
            if m is not None and "Event" in m:
                self.events.append(m)

    def close(self):
        try:
            self.send("Logoff")
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Recorder:
    """Records the raw bytes the server sends on a logged-in connection, starting right
    AFTER the Login response (so the file begins with e.g. 'Event: FullyBooted').
    Runs in a background thread; call stop() to get the bytes."""

    def __init__(self, host, port, user, secret):
        import threading
        self.sock = socket.create_connection((host, port), timeout=10)
        buf = b""
        while b"\r\n" not in buf:
            buf += self.sock.recv(4096)
        self.banner, _, buf = buf.partition(b"\r\n")
        self.sock.sendall(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n"
                          f"Events: on\r\n\r\n".encode())
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AMIError("connection closed during login")
            buf += chunk
        first, _, rest = buf.partition(b"\r\n\r\n")
        if b"Response: Success" not in first:
            raise AMIError(f"login failed: {first!r}")
        self.login_response = first + b"\r\n\r\n"
        self.chunks = [rest] if rest else []
        self._stop = threading.Event()
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not c:
                break
            self.chunks.append(c)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def stop(self) -> bytes:
        self._stop.set()
        self.thread.join(2)
        try:
            self.sock.close()
        except OSError:
            pass
        return self.data()
