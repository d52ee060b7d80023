"""The daemon's wallboard file server: the page's files and nothing else, GET only."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, strategies as st

from pbx_bridge.live.wallboard_server import WallboardServer, page_files
from tests.support.fuzzing import fuzz_settings


async def request(port: int, raw: bytes) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@pytest.fixture
async def server():
    srv = WallboardServer("127.0.0.1", 0, page_defaults={"prefix": "pbx-bridge/pbx1"})
    task = asyncio.create_task(srv.run())
    for _ in range(100):
        if srv.listening:
            break
        await asyncio.sleep(0.01)
    yield srv
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not srv.listening


def test_the_page_is_package_data():
    files = page_files()
    assert {"/", "/index.html", "/wallboard.js", "/wallboard.css", "/vendor/mqtt.min.js", "/favicon.svg"} <= set(files)
    assert not any(p.endswith((".md", ".py", ".conf", ".acl")) for p in files)


@pytest.mark.parametrize("path,ctype,needle", [
    ("/", "text/html", b"wallboard.js"),
    ("/index.html", "text/html", b"wallboard.js"),
    ("/index.html?broker=ws://127.0.0.1:9001&prefix=pbx-bridge/pbx1", "text/html", b"wallboard.js"),
    ("/wallboard.js", "text/javascript", b"subscribe"),
    ("/wallboard.css", "text/css", b".queue"),
    ("/vendor/mqtt.min.js", "text/javascript", b"mqtt"),
])
async def test_it_serves_the_page_files(server, path, ctype, needle):
    status, headers, body = await request(server.port, get(path))
    assert status == 200 and headers["Content-Type"].startswith(ctype)
    assert int(headers["Content-Length"]) == len(body) and needle in body
    assert "connect-src 'self' ws: wss:" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_it_serves_the_page_defaults(server):
    status, headers, body = await request(server.port, get("/wallboard-defaults.json"))
    assert status == 200 and json.loads(body) == {"prefix": "pbx-bridge/pbx1"}


@pytest.mark.parametrize("path", [
    "/nope.html", "/vendor/README.md", "/vendor/LICENSE.md", "/../wallboard_server.py", "/%2e%2e/wallboard_server.py",
    "/..%2fwallboard_server.py", "//etc/passwd", "/vendor/../../config.py", "/etc/passwd", "/index.html/",
    "/%00", "/wallboard", "/vendor/",
])
async def test_anything_else_is_404_and_no_path_escapes(server, path):
    status, _, body = await request(server.port, get(path))
    assert status == 404 and body == b"not found\n"


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "get"])
async def test_only_get_is_allowed(server, method):
    status, headers, _ = await request(server.port, f"{method} /index.html HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405 and headers["Allow"] == "GET"


async def test_garbage_and_oversized_requests_are_refused(server):
    status, _, _ = await request(server.port, b"hello\r\n\r\n")
    assert status == 400
    status, _, _ = await request(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
    assert status == 0  # connection closed without an answer
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\n")  # the head never ends: the peer gives up
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    health = server.health()
    assert health["listening"] and health["refused"] >= 2 and health["port"] == server.port


async def test_health_counts(server):
    await request(server.port, get("/"))
    await request(server.port, get("/missing"))
    assert server.health()["served"] == 1 and server.health()["not_found"] == 1


# --- bounded: a cap on connections, a timeout for idle ones, a 400 for what cannot be parsed ----------

async def started(**over) -> tuple[WallboardServer, asyncio.Task]:
    srv = WallboardServer("127.0.0.1", 0, **over)
    task = asyncio.create_task(srv.run())
    async with asyncio.timeout(5):
        while not srv.listening:
            await asyncio.sleep(0.01)
    return srv, task


async def stopped(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_connections_beyond_the_cap_are_closed_and_idle_ones_time_out(tmp_path):
    srv, task = await started(max_connections=4, idle_timeout=0.3)
    idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(4)]
    async with asyncio.timeout(5):
        while srv.health()["active"] < 4:
            await asyncio.sleep(0.01)
    for _ in range(3):  # the cap is reached: these are closed at once, unanswered
        assert await request(srv.port, get("/")) == (0, {}, b"")
    assert srv.health()["over_capacity"] == 3 and srv.health()["active"] == 4
    for reader, writer in idle:  # the server gives up on the idle ones by itself...
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    status, _, _ = await request(srv.port, get("/"))  # ...and serves again
    assert status == 200 and srv.served == 1
    await stopped(task)


@pytest.mark.parametrize("target", ["http://[::1/", "http://[v1.x/", "//[", "http://]/", "http://[zz]/"])
async def test_a_target_urlsplit_cannot_parse_is_400(server, target):
    status, _, body = await request(server.port, get(target))
    assert status == 400 and body == b"bad request\n"
    status, _, _ = await request(server.port, get("/"))
    assert status == 200 and server.health()["crashed"] == 0


@pytest.fixture(scope="module")
def fuzz_server():
    """One server on its own loop and thread for every example (starting one per example is slow)."""
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    async def main():
        holder["srv"], holder["task"] = await started()
        ready.set()
        try:
            await holder["task"]
        except asyncio.CancelledError:
            pass

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield holder["srv"]
    loop.call_soon_threadsafe(holder["task"].cancel)
    thread.join(5)
    loop.close()


def blocking_request(port: int, raw: bytes) -> int:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


URL_PIECES = [b"http://", b"https://", b"//", b"/", b"[", b"]", b"::1", b"v1.x", b":", b"99999", b"@", b"%",
              b"%2e", b"%zz", b"?", b"#", b"..", b"index.html", b"\x00", b"\xff", b" ", b"\r\n", b"\t", b"*"]
LINES = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([b"", b"http://", b"//", b"/", b"HTTP://"]),
              st.lists(st.one_of(st.sampled_from(URL_PIECES), st.binary(max_size=4)), max_size=10))
      .map(lambda t: t[0] + b"".join(t[1])),
).filter(lambda b: b"\r\n\r\n" not in b)


@fuzz_settings(3)  # ~1 ms an example
@given(line=LINES, shape=st.sampled_from(["line", "target", "method"]))
def test_any_request_line_is_answered_200_400_404_or_405_and_never_crashes_the_server(fuzz_server, line, shape):
    if shape == "target":
        line = b"GET " + line + b" HTTP/1.1"
    elif shape == "method":
        line = line.replace(b" ", b"") + b" / HTTP/1.1"
    status = blocking_request(fuzz_server.port, line + b"\r\nHost: x\r\n\r\n")
    assert status in (200, 400, 404, 405), (line, status)
    assert fuzz_server.health()["crashed"] == 0
