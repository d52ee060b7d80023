"""Listening sockets the daemon opens (FastAGI, the wallboard page): one mechanism for both.

A port that cannot be taken at start is a configuration problem for the admin, not a crash:
it is raised as ListenError, which the command turns into one line and exit status 2.

Once listening, nothing a client does may cost the daemon more than a bounded share of its file
descriptors, because the FastAGI server needs one for every call that rings:
- each listener caps its open connections; one beyond the cap is accepted and closed at once
  (a connection left in the kernel's backlog would hold its client in silence), and counted;
- a listener given `spare_fds` also refuses a connection that lands on one of the last
  descriptors under the process's limit (Linux hands out the lowest free one, so a high number
  means all below it are taken): a listener that does not matter for calls cannot take those;
- accept() failing for want of descriptors or memory (EMFILE, ENFILE, ...) is counted and
  retried after a short pause, logged at most once a minute, never with a traceback (asyncio's own
  server logs a traceback for each, and pauses a full second each time).
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import time
from typing import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# Linux's accept() reports errors pending on the new connection: retry at once (accept(2), NOTES)
TRANSIENT = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN,
             errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH, errno.EINTR, errno.ECONNRESET,
             errno.EAGAIN}
ACCEPT_RETRY_S = 0.1
LOG_EVERY_S = 60.0
# Descriptors the daemon needs besides its listeners' connections: the store's pool, AMI, MQTT,
# the log, the spool and report files, the event loop's own.
OTHER_FDS = 256


class ListenError(Exception):
    """A listener could not bind: `<what>: cannot listen on <host>:<port>: <reason>`."""


def listen_error_in(exc: BaseException) -> ListenError | None:
    """The ListenError in `exc`, or in the exception groups a TaskGroup wraps it in."""
    if isinstance(exc, ListenError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := listen_error_in(inner)) is not None:
                return found
    return None


class Every:
    """Logs one event at most once per `interval` seconds with how many were left unlogged since:
    a flood of refused connections or failing accepts is a line a minute, not a line each."""

    def __init__(self, event: str, interval: float = LOG_EVERY_S) -> None:
        self.event, self.interval = event, interval
        self.last: float | None = None
        self.unlogged = 0

    def __call__(self, level: str = "warning", **fields) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.interval:
            self.unlogged += 1
            return
        getattr(log, level)(self.event, unlogged_since_last=self.unlogged, **fields)
        self.last, self.unlogged = now, 0


def _where(host: str | None, port: int) -> str:
    host = host or "*"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Listener:
    """One listening address, its accept loop and its connections.

    `what` names the listener in logs and errors (the config section: `agi`, `wallboard`).
    `handler(reader, writer)` serves one connection; it should close the writer. A handler that
    raises is a bug: counted as `crashed` and logged (rate-limited), the others carry on.
    """

    def __init__(self, what: str, host: str | None, port: int, handler: Handler, *, max_connections: int,
                 limit: int = 2 ** 16, backlog: int = 128, spare_fds: int = 0) -> None:
        self.what, self.host, self.port = what, host, port
        self.handler = handler
        self.max_connections, self.limit, self.backlog, self.spare_fds = max_connections, limit, backlog, spare_fds
        self.active: set[asyncio.Task] = set()
        self.listening = False
        self.refused = 0
        self.accept_errors = 0
        self.crashed = 0
        self._sockets: list[socket.socket] = []
        self._log_refused = Every(f"{what}_connection_refused")
        self._log_accept = Every(f"{what}_accept_failed")
        self._log_crash = Every(f"{what}_connection_crashed")

    def health(self) -> dict:
        return {"listening": self.listening, "active": len(self.active), "max_connections": self.max_connections,
                "refused": self.refused, "accept_errors": self.accept_errors, "crashed": self.crashed}

    @property
    def bound(self) -> bool:
        return bool(self._sockets)

    async def bind(self) -> None:
        """Take the address (every address `host` resolves to), or raise ListenError."""
        if self._sockets:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
            seen = set()
            for family, kind, proto, _, address in infos:
                if (family, address) in seen:
                    continue
                seen.add((family, address))
                if self._sockets:  # port 0: every address on the port the first one got
                    address = (address[0], self._sockets[0].getsockname()[1], *address[2:])
                sock = socket.socket(family, kind, proto)
                self._sockets.append(sock)
                # a restart must not wait for the last run's connections in TIME_WAIT; another
                # process listening on the port still makes bind() fail (Linux)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(self.backlog)
                sock.setblocking(False)
        except OSError as exc:
            self._close()
            reason = exc.strerror or str(exc)
            raise ListenError(f"{self.what}: cannot listen on {_where(self.host, self.port)}: {reason}") from None
        self.port = self._sockets[0].getsockname()[1]

    async def serve(self) -> None:
        """Accept until cancelled (binding first if bind() was not called); then close every connection."""
        await self.bind()
        self.listening = True
        try:
            async with asyncio.TaskGroup() as group:
                for sock in self._sockets:
                    group.create_task(self._accept(sock), name=f"{self.what}-accept")
        finally:
            self.listening = False
            self._close()
            for task in list(self.active):
                task.cancel()

    def _close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self.accept_errors += 1
                    self._log_accept(error=exc.strerror, active=len(self.active))
                    await asyncio.sleep(ACCEPT_RETRY_S)  # the socket stays readable: do not spin
                    continue
                if exc.errno in TRANSIENT:
                    continue
                raise
            if len(self.active) >= self.max_connections:
                self._refuse(conn, "max_connections reached")
            elif self.spare_fds and conn.fileno() >= _fd_limit() - self.spare_fds:
                self._refuse(conn, "file descriptors kept for the FastAGI server")
            else:
                task = asyncio.create_task(self._connection(conn), name=f"{self.what}-connection")
                self.active.add(task)
                task.add_done_callback(self.active.discard)

    def _refuse(self, conn: socket.socket, reason: str) -> None:
        self.refused += 1
        self._log_refused(reason=reason, limit=self.max_connections)
        conn.close()

    async def _connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.limit)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn)
        except BaseException:
            conn.close()
            raise
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            await self.handler(reader, writer)
        except asyncio.CancelledError:
            transport.abort()
            raise
        except Exception:  # noqa: BLE001 - a bug in one connection's handler must not stop the listener
            self.crashed += 1
            self._log_crash(level="error", exc_info=True)
            transport.abort()
        else:
            if not transport.is_closing():
                writer.close()


def _fd_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def ensure_fd_budget(connections: int) -> None:
    """Make sure the process may open `connections` (the listeners' caps together) plus OTHER_FDS:
    raise the soft RLIMIT_NOFILE up to the hard one if needed; if even that is too low, say so."""
    needed = connections + OTHER_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        log.info("fd_limit_raised", soft=target, was=soft)
        soft = target
    if soft < needed:
        log.warning("fd_limit_low", limit=soft, needed=needed,
                    hint="raise LimitNOFILE= in the unit, or lower agi.max_sessions / wallboard.max_connections")
