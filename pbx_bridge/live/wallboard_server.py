"""A tiny static file server for the wallboard page (issue 8), inside the daemon.

It serves only the page's own files, shipped as package data under `pbx_bridge/wallboard/`: the
list is read once at start (html, js, css, images), and a request path is looked up in that
list, never joined to a directory, so no path can reach anything else. GET only; every other
method gets 405, a request it cannot parse 400. One request per connection, a size limit on the
request head, a timeout to send it and one to take the answer, and a cap on open connections
(pbx_bridge/listen.py): idle or hostile clients cost a bounded number of file descriptors, never
the FastAGI server's. Bind it to 127.0.0.1 (or put a reverse proxy in front).

`page_defaults` (default: {}) is served as `/wallboard-defaults.json`; the page reads it for the
settings that the URL does not give (e.g. the topic prefix of this daemon).
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from urllib.parse import unquote, urlsplit

import structlog

from pbx_bridge.listen import Listener

log = structlog.get_logger(__name__)

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
         ".woff2": "font/woff2", ".json": "application/json; charset=utf-8"}
MAX_HEAD = 8192
# Not Asterisk's (8088 HTTP, 8089 HTTPS, 5038 AMI, 4573 FastAGI, 5060/5061 SIP, 4569 IAX), nor
# mosquitto's websockets (9001)
DEFAULT_PORT = 8480
# a wallboard connection on one of the last SPARE_FDS descriptors is refused: they are for calls
SPARE_FDS = 128
# mqtt.js runs its keepalive timers in a blob: worker, so a background tab is not throttled
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; script-src 'self'; worker-src 'self' blob:; "
       "style-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
DEFAULTS_PATH = "/wallboard-defaults.json"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def page_files() -> dict[str, tuple[bytes, str]]:
    """URL path -> (content, content type), for every servable file under pbx_bridge/wallboard/."""
    files: dict[str, tuple[bytes, str]] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                suffix = "." + child.name.rsplit(".", 1)[-1].lower() if "." in child.name else ""
                if suffix in TYPES and suffix != ".json":
                    files[f"{prefix}{child.name}"] = (child.read_bytes(), TYPES[suffix])

    walk(resources.files("pbx_bridge") / "wallboard", "/")
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


class WallboardServer:
    """`max_connections` open at once (more are closed at once); each has `idle_timeout` seconds to
    send its request head, and again to take the answer."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, page_defaults: dict | None = None, *,
                 max_connections: int = 64, idle_timeout: float = 10.0) -> None:
        self.host = host
        self.idle_timeout = idle_timeout
        self.files = page_files()
        self.files[DEFAULTS_PATH] = (json.dumps(page_defaults or {}, ensure_ascii=False).encode(), TYPES[".json"])
        self.listener = Listener("wallboard", host, port, self._handle, max_connections=max_connections,
                                 limit=MAX_HEAD, spare_fds=SPARE_FDS)
        self.served = 0
        self.not_found = 0
        self.refused = 0  # closed or timed out before a whole head, too long, or answered 400 / 405

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def listening(self) -> bool:
        return self.listener.listening

    def health(self) -> dict:
        listener = self.listener.health()
        return {"listening": self.listening, "host": self.host, "port": self.port, "served": self.served,
                "not_found": self.not_found, "refused": self.refused, "active": listener["active"],
                "over_capacity": listener["refused"], "accept_errors": listener["accept_errors"],
                "crashed": listener["crashed"]}

    async def bind(self) -> None:
        """Take the port, or raise ListenError; the daemon does this before it starts anything else."""
        if not self.listener.bound:
            await self.listener.bind()
            log.info("wallboard_listening", url=f"http://{_host(self.host)}:{self.port}/",
                     max_connections=self.listener.max_connections, idle_timeout=self.idle_timeout)

    async def run(self) -> None:
        """Serves until cancelled (binding first if bind() was not called)."""
        await self.bind()
        await self.listener.serve()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                self.refused += 1
                return
            status, body, ctype, extra = self._answer(head)
            async with asyncio.timeout(self.idle_timeout):  # a client that does not read its answer
                await self._send(writer, status, body, ctype, extra)
        except (TimeoutError, ConnectionError):
            writer.transport.abort()
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, bytes, str, dict | None]:
        """(status, body, content type, extra headers) for a request head; never raises on its bytes."""
        text = "text/plain; charset=utf-8"
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.refused += 1
            return 400, b"bad request\n", text, None
        method, target = parts[0], parts[1]
        if method != "GET":
            self.refused += 1
            return 405, b"method not allowed\n", text, {"Allow": "GET"}
        try:
            path = unquote(urlsplit(target).path)
        except ValueError:  # e.g. an absolute-form target urlsplit cannot parse: http://[::1/
            self.refused += 1
            return 400, b"bad request\n", text, None
        found = self.files.get(path)
        if found is None:
            self.not_found += 1
            return 404, b"not found\n", text, None
        self.served += 1
        return 200, found[0], found[1], None

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
                    extra: dict | None = None) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
        headers = {"Content-Type": ctype, "Content-Length": str(len(body)), "Cache-Control": "no-cache",
                   "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                   "Content-Security-Policy": CSP, "Connection": "close", **(extra or {})}
        writer.write(f"HTTP/1.1 {status} {reason}\r\n".encode() +
                     "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + body)
        await writer.drain()
