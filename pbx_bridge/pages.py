"""Pages a room serves on the daemon's web listener (today the wallboard's), without importing it.

The live room owns the listener; another room (metrics, the report pages) adds a page to the
core's `Pages` with `core.add_page(path, handler)` and the listener looks the path up in it at
request time, so the order rooms are wired in does not matter and the listener names no room.
A page is an async function from a `Request` to a `Response`; the listener parses the request,
caps its size and time, and adds the security headers a page does not set itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased; a repeated header keeps its last
    body: bytes = b""
    peer: str = ""

    def params(self) -> dict[str, str]:
        """The query's parameters, the first value of each (a page never trusts them: it validates)."""
        return {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body's fields, the first value of each."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def cookies(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                found[name] = value
        return found


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)  # override the listener's defaults (e.g. CSP)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    prefix: bool = False  # True: every path under `path` + "/" too


class Pages:
    """The pages rooms added, by path; an exact path wins over a prefix, a longer prefix over a shorter."""

    def __init__(self) -> None:
        self._pages: dict[str, Page] = {}

    def add(self, path: str, handler: Handler, *, methods: tuple[str, ...] = ("GET",), prefix: bool = False) -> None:
        if not path.startswith("/") or (prefix and path.endswith("/") and path != "/"):
            raise ValueError(f"a page path starts with / and a prefix does not end with one: {path!r}")
        if path in self._pages:
            raise ValueError(f"the page {path!r} is added twice")
        self._pages[path] = Page(path, handler, tuple(m.upper() for m in methods), prefix)

    def find(self, path: str) -> Page | None:
        page = self._pages.get(path)
        if page is not None:
            return page
        best: Page | None = None
        for candidate in self._pages.values():
            if candidate.prefix and path.startswith(candidate.path.rstrip("/") + "/"):
                if best is None or len(candidate.path) > len(best.path):
                    best = candidate
        return best

    def paths(self) -> list[str]:
        """Every path added, sorted: what a test of "no page without a session" walks."""
        return sorted(self._pages)

    def __len__(self) -> int:
        return len(self._pages)
