"""The daemon's wallboard file server: the page's files and nothing else, GET only."""

from __future__ import annotations

import asyncio
import json

import pytest

from pbx_bridge.wallboard_server import WallboardServer, page_files


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
