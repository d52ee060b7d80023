"""The FastAGI server inside the daemon.

Written on asyncio streams rather than panoramisk's fast_agi, which spins the loop forever on a
connection closed before its header and breaks plain-function routes on Python 3.11. Every
session is bounded: a header timeout, a command timeout, a write (drain) timeout for a client that
stops reading, a size limit on the header, and a cap on concurrent sessions (pbx_bridge/listen.py,
shared with the wallboard). One client can waste at most its own session, never the loop.

Every session must carry the secret the dialplan puts in its AGI URL
(`agi://127.0.0.1:4573/ring_twice?auth=${PBXB_AGI_SECRET},inbound`): loopback is not a boundary
between the PBX and the host's other local users, and a session without the secret is closed
before any route runs (docs/security.md, "FastAGI authentication").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import structlog

from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.listen import Listener

log = structlog.get_logger(__name__)

MAX_HEADER_LINES = 200
MAX_LINE = 4096
MAX_REPLY_LINES = 200  # HANGUP, 100 Trying and 520 usage lines before a command's result
_RESULT = re.compile(r"^(\d{3})[ -](.*)$")


class AgiHangup(Exception):
    """The channel hung up (HANGUP notice or 511): end the session quietly."""


class AgiProtocolError(Exception):
    """The peer does not speak AGI: drop it."""


class AgiCommandError(Exception):
    pass


class UnsafeCommand(ValueError):
    """A command line with CR, LF or NUL: it would be two commands (or a cut one). Never sent."""


_LINE_BREAKERS = re.compile(r"[\r\n\x00]")


@dataclass
class AgiReply:
    code: int
    result: str
    data: str
    raw: str


def parse_reply(line: str) -> AgiReply:
    match = _RESULT.match(line)
    if match is None:
        raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")
    code, rest = int(match.group(1)), match.group(2)
    result, data = "", ""
    found = re.search(r"result=(\S*)(?:\s+\((.*)\))?", rest)
    if found:
        result, data = found.group(1), found.group(2) or ""
    return AgiReply(code, result, data, line)


@dataclass
class AgiSession:
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    cfg: AgiConfig
    commands: list[str] = field(default_factory=list)

    @property
    def script(self) -> str:
        return self.headers.get("agi_network_script", "").strip("/").split("?")[0]

    @property
    def args(self) -> list[str]:
        out = []
        for i in itertools.count(1):
            value = self.headers.get(f"agi_arg_{i}")
            if value is None:
                return out
            out.append(value)

    async def _line(self) -> str:
        try:
            raw = await self.reader.readline()
        except ValueError as exc:  # a line over the reader's limit, without its newline
            raise AgiProtocolError("reply line too long") from exc
        if not raw:
            raise AgiHangup("connection closed")
        if len(raw) > MAX_LINE:
            raise AgiProtocolError("reply line too long")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def command(self, line: str, timeout: float | None = None) -> AgiReply:
        """Send one AGI command; wait (bounded) for its reply.

        `timeout`: for a command that lasts as long as what it plays or dials (a voicemail
        message, a call back), longer than the configured `command_timeout`, never shorter.
        """
        if _LINE_BREAKERS.search(line):
            # Last line of defence: commands are built by pbx_bridge.agi.quoting, which cannot
            # produce this; a route that bypassed it must fail loudly rather than send two commands.
            raise UnsafeCommand(f"refused to send an AGI command with a line break or NUL: {line[:80]!r}")
        self.commands.append(line)
        self.writer.write(line.encode() + b"\n")
        async with asyncio.timeout(self.cfg.command_timeout):  # not wait_for: it can swallow the stop's cancel
            await self.writer.drain()
        # One timeout for the whole reply, however many lines it takes (HANGUP notices, 100
        # Trying, 520 usage text): a peer dripping lines cannot hold the session.
        async with asyncio.timeout(max(self.cfg.command_timeout, timeout or 0)):
            return await self._reply(line)

    async def _reply(self, line: str) -> AgiReply:
        for _ in range(MAX_REPLY_LINES):
            text = await self._line()
            if text == "HANGUP":
                continue  # the asynchronous hangup notice; the command's own reply follows
            reply = parse_reply(text)
            if reply.code == 100:
                continue  # "Trying...": the real answer follows
            if reply.code == 511:
                raise AgiHangup(text)
            if reply.code == 520:
                for _ in range(MAX_REPLY_LINES):
                    if (await self._line()).startswith("520 End"):
                        raise AgiCommandError(f"usage error for {line!r}")
                break
            if reply.code != 200:
                raise AgiCommandError(f"{line!r}: {text}")
            if reply.result == "-1":
                raise AgiHangup(f"{line!r} returned -1")
            return reply
        raise AgiProtocolError(f"reply to {line!r} too long")


Route = Callable[[AgiSession], Awaitable[None]]

AUTH_PARAM = "auth"


def offered_secret(network_script: str) -> bytes | None:
    """The one `auth=` value in the script's query, or None (absent, or given twice)."""
    _, _, query = network_script.partition("?")
    values = [value for key, _, value in (part.partition("=") for part in query.split("&")) if key == AUTH_PARAM]
    return values[0].encode("utf-8", "replace") if len(values) == 1 else None


def secret_matches(offered: bytes | None, expected: bytes) -> bool:
    """Constant time, whatever the offered length: the digests are compared, not the values."""
    if offered is None:
        return False
    return hmac.compare_digest(hashlib.sha256(offered).digest(), hashlib.sha256(expected).digest())


async def read_header(reader: asyncio.StreamReader, timeout: float) -> dict[str, str]:
    """The agi_* block up to its blank line, within `timeout` in total."""

    async def collect() -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await reader.readline()
            if not raw:
                raise AgiProtocolError("closed before the end of the header")
            if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                raise AgiProtocolError("header line too long")
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if not headers:
                    raise AgiProtocolError("empty header")
                return headers
            key, sep, value = text.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"not an AGI header line: {text[:60]!r}")
            headers[key] = value.strip()
        raise AgiProtocolError("header too long")

    async with asyncio.timeout(timeout):
        return await collect()


class FastAgiServer:
    def __init__(self, cfg: AgiConfig, routes: dict[str, Route] | None = None) -> None:
        if cfg.secret is None:
            raise ValueError("a FastAGI server without agi.secret would answer every local process")
        self.cfg = cfg
        self._secret = cfg.secret.get_secret_value().encode()
        self.routes: dict[str, Route] = {}
        for name, route in (routes or {}).items():
            self.add_route(name, route)
        # A backlog below max_sessions drops SYNs in a burst, and the kernel retries them a full second
        # later: a second of extra ringing for those callers.
        self.listener = Listener("agi", cfg.host, cfg.port, self._accept, max_connections=cfg.max_sessions,
                                 limit=MAX_LINE * 2, backlog=max(cfg.max_sessions, 128))
        self.served = 0
        self.malformed = 0
        self.failed = 0
        self.unauthenticated = 0
        self._ids = itertools.count(1)

    def add_route(self, name: str, route: Route) -> None:
        """Serve `route` for agi_network_script `name`; each feature adds its own, and a name is one route."""
        if name in self.routes:
            raise ValueError(f"the FastAGI route {name!r} is added twice")
        self.routes[name] = route

    @property
    def listening(self) -> bool:
        return self.listener.listening

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def active(self) -> set[asyncio.Task]:
        return self.listener.active

    @property
    def rejected(self) -> int:
        """Sessions refused at once: max_sessions were open."""
        return self.listener.refused

    def health(self) -> dict:
        listener = self.listener.health()
        return {"listening": self.listening, "active": len(self.active), "served": self.served,
                "rejected": self.rejected, "malformed": self.malformed, "failed": self.failed,
                "unauthenticated": self.unauthenticated, "accept_errors": listener["accept_errors"],
                "crashed": listener["crashed"]}

    async def bind(self) -> None:
        """Take the port, or raise ListenError; the daemon does this before it starts anything else."""
        if not self.listener.bound:
            await self.listener.bind()
            log.info("fastagi_listening", host=self.cfg.host, port=self.port, max_sessions=self.cfg.max_sessions)

    async def run(self) -> None:
        """Serves until cancelled (binding first if bind() was not called)."""
        await self.bind()
        await self.listener.serve()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._session(reader, writer)
        finally:
            # Nothing left to say: close cleanly, unless the peer stopped reading our output.
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()
            else:
                writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session_id = next(self._ids)
        with structlog.contextvars.bound_contextvars(agi_session=session_id):
            try:
                headers = await read_header(reader, self.cfg.header_timeout)
            except (AgiProtocolError, TimeoutError, ConnectionError, ValueError) as exc:
                self.malformed += 1
                log.debug("fastagi_bad_header", error=repr(exc)[:120])
                return
            session = AgiSession(headers, reader, writer, self.cfg)
            # agi_network_script and agi_request carry the secret: only the bare script name is logged.
            script = session.script[:60]
            offered = offered_secret(headers.get("agi_network_script", ""))
            if not secret_matches(offered, self._secret):
                self.unauthenticated += 1
                reason = "no secret" if offered is None else "wrong secret"
                log.warning("fastagi_unauthenticated", agi_script=script, reason=reason,
                            unauthenticated=self.unauthenticated)
                return
            route = self.routes.get(session.script)
            with structlog.contextvars.bound_contextvars(uniqueid=headers.get("agi_uniqueid"), agi_script=script):
                if route is None:
                    self.failed += 1
                    log.warning("fastagi_unknown_script")
                    return
                try:
                    await route(session)
                    self.served += 1
                except AgiHangup:
                    self.served += 1
                    log.info("fastagi_caller_hung_up")
                except (AgiProtocolError, AgiCommandError, TimeoutError, ConnectionError) as exc:
                    self.failed += 1
                    log.warning("fastagi_session_failed", error=repr(exc)[:200])
                except Exception:  # noqa: BLE001 - a bug in one route must not take the server down
                    self.failed += 1
                    log.exception("fastagi_route_crashed")
