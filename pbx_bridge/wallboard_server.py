"""A tiny static file server for the wallboard page (issue 8), inside the daemon.

It serves only the page's own files, shipped as package data under `pbx_bridge/wallboard/`: the
list is read once at start (html, js, css, images), and a request path is looked up in that
list, never joined to a directory, so no path can reach anything else. GET only; every other
method gets 405. One request per connection, a size limit on the request head and a timeout, so a
slow or hostile client costs little. Bind it to 127.0.0.1 (or put a reverse proxy in front).

`page_defaults` (default: {}) is served as `/wallboard-defaults.json`; the page reads it for the
settings that the URL does not give (e.g. the topic prefix of this daemon).
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from urllib.parse import unquote, urlsplit

import structlog

log = structlog.get_logger(__name__)

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
         ".woff2": "font/woff2", ".json": "application/json; charset=utf-8"}
MAX_HEAD = 8192
READ_TIMEOUT = 10.0
# mqtt.js runs its keepalive timers in a blob: worker, so a background tab is not throttled
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; script-src 'self'; worker-src 'self' blob:; "
       "style-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
DEFAULTS_PATH = "/wallboard-defaults.json"


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
    def __init__(self, host: str = "127.0.0.1", port: int = 8088, page_defaults: dict | None = None) -> None:
        self.host, self.port = host, port
        self.files = page_files()
        self.files[DEFAULTS_PATH] = (json.dumps(page_defaults or {}, ensure_ascii=False).encode(), TYPES[".json"])
        self.listening = False
        self.served = 0
        self.not_found = 0
        self.refused = 0

    def health(self) -> dict:
        return {"listening": self.listening, "host": self.host, "port": self.port, "served": self.served,
                "not_found": self.not_found, "refused": self.refused}

    async def run(self) -> None:
        """Serves until cancelled."""
        server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_HEAD)
        self.port = server.sockets[0].getsockname()[1]
        self.listening = True
        log.info("wallboard_listening", url=f"http://{self.host}:{self.port}/")
        try:
            async with server:
                await server.serve_forever()
        finally:
            self.listening = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                self.refused += 1
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self.refused += 1
                await self._send(writer, 400, b"bad request\n")
                return
            method, target = parts[0], parts[1]
            if method != "GET":
                self.refused += 1
                await self._send(writer, 405, b"method not allowed\n", extra={"Allow": "GET"})
                return
            path = unquote(urlsplit(target).path)
            found = self.files.get(path)
            if found is None:
                self.not_found += 1
                await self._send(writer, 404, b"not found\n")
                return
            self.served += 1
            await self._send(writer, 200, found[0], found[1])
        except ConnectionError:
            pass
        finally:
            writer.close()

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
