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

Other rooms add pages to it (pbx_bridge/pages.py, `core.add_page`): a page may take a body (POST,
`Content-Length` only, at most MAX_BODY bytes), has `page_timeout` seconds to answer (a failure
is logged and answered 500, the listener goes on) and may override the default headers (its own
Content-Security-Policy, cookies).
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from urllib.parse import unquote, urlsplit

import structlog

from pbx_bridge.listen import Listener
from pbx_bridge.pages import Pages, Request, Response

log = structlog.get_logger(__name__)

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
         ".woff2": "font/woff2", ".json": "application/json; charset=utf-8"}
MAX_HEAD = 8192
MAX_BODY = 16384  # a login form, never an upload
REASONS = {200: "OK", 204: "No Content", 302: "Found", 303: "See Other", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}
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
                 max_connections: int = 64, idle_timeout: float = 10.0, pages: Pages | None = None,
                 page_timeout: float = 30.0) -> None:
        self.host = host
        self.idle_timeout = idle_timeout
        self.page_timeout = page_timeout
        self.pages = pages if pages is not None else Pages()
        self.files = page_files()
        self.files[DEFAULTS_PATH] = (json.dumps(page_defaults or {}, ensure_ascii=False).encode(), TYPES[".json"])
        self.listener = Listener("wallboard", host, port, self._handle, max_connections=max_connections,
                                 limit=MAX_HEAD, spare_fds=SPARE_FDS)
        self.served = 0
        self.not_found = 0
        self.refused = 0  # closed or timed out before a whole head, too long, or answered 400 / 405 / 411 / 413
        self.page_errors = 0  # a page that raised or took longer than page_timeout (answered 500)

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def listening(self) -> bool:
        return self.listener.listening

    def health(self) -> dict:
        listener = self.listener.health()
        return {"listening": self.listening, "host": self.host, "port": self.port, "served": self.served,
                "not_found": self.not_found, "refused": self.refused, "page_errors": self.page_errors, "active": listener["active"],
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
            status, body, ctype, extra = await self._answer(head, reader, writer)
            async with asyncio.timeout(self.idle_timeout):  # a client that does not read its answer
                await self._send(writer, status, body, ctype, extra)
        except (TimeoutError, ConnectionError):
            writer.transport.abort()
        finally:
            writer.close()

    async def _answer(self, head: bytes, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> tuple[int, bytes, str, dict | None]:
        """(status, body, content type, extra headers) for a request; never raises on its bytes."""
        text = "text/plain; charset=utf-8"
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.refused += 1
            return 400, b"bad request\n", text, None
        method, target = parts[0], parts[1]
        try:
            split = urlsplit(target)
            path = unquote(split.path)
        except ValueError:  # e.g. an absolute-form target urlsplit cannot parse: http://[::1/
            self.refused += 1
            return 400, b"bad request\n", text, None
        page = self.pages.find(path)
        if page is None:
            if method != "GET":
                self.refused += 1
                return 405, b"method not allowed\n", text, {"Allow": "GET"}
            found = self.files.get(path)
            if found is None:
                self.not_found += 1
                return 404, b"not found\n", text, None
            self.served += 1
            return 200, found[0], found[1], None
        if method not in page.methods:
            self.refused += 1
            return 405, b"method not allowed\n", text, {"Allow": ", ".join(page.methods)}
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "transfer-encoding" in headers:
            self.refused += 1
            return 411, b"length required\n", text, None
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                length = -1
            if length < 0:
                self.refused += 1
                return 400, b"bad request\n", text, None
            if length > MAX_BODY:
                self.refused += 1
                return 413, b"content too large\n", text, None
            try:
                async with asyncio.timeout(self.idle_timeout):
                    body = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                self.refused += 1
                return 400, b"bad request\n", text, None
        peer = writer.get_extra_info("peername")
        request = Request(method, path, split.query, headers, body, str(peer[0]) if peer else "")
        try:
            async with asyncio.timeout(self.page_timeout):
                response: Response = await page.handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one page's failure answers 500, the listener goes on
            self.page_errors += 1
            log.exception("web_page_failed", path=page.path, method=method)
            return 500, b"internal error\n", text, None
        self.served += 1
        return response.status, response.body, response.content_type, response.headers or None

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
                    extra: dict | None = None) -> None:
        reason = REASONS.get(status, "Unknown")
        headers = {"Content-Type": ctype, "Content-Length": str(len(body)), "Cache-Control": "no-cache",
                   "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                   "Content-Security-Policy": CSP, "Connection": "close", **(extra or {})}
        writer.write(f"HTTP/1.1 {status} {reason}\r\n".encode() +
                     "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + body)
        await writer.drain()
