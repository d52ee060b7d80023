"""One AMI connection, kept alive for the life of the daemon.

panoramisk's Manager is not used: it reconnects at a fixed interval with callbacks scheduled on a
loop it looks up itself, pings without ever noticing that the answer never came, and fires event
coroutines without keeping a reference. We keep its protocol (subclassed in protocol.py) and its
Message/Action classes, and own the connection's life here: backoff with jitter, a ping that must
be answered, cancellation as the one way to stop, and gaps that are measured and reported.

Every wait here is `asyncio.timeout`, never `asyncio.wait_for`: on 3.11 wait_for swallows a
cancellation that lands as the awaited thing finishes (a refused connection, a login answer), and
the reconnect loop would then run on after the daemon's stop, deaf to SIGTERM.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Callable, Iterable

import structlog
from panoramisk.actions import Action
from panoramisk.message import Message

from pbx_bridge.ami.bus import ConnectHook, EventBus
from pbx_bridge.ami.settings import AmiConfig
from pbx_bridge.backoff import Backoff, raise_if_cancelled
from pbx_bridge.ami.protocol import StreamingAMIProtocol

log = structlog.get_logger(__name__)

EventHandler = Callable[[Message], None]


SINGLE_ANSWER_ACTIONS = frozenset({"queueadd", "queueremove", "queuepause", "redirect", "hangup", "setvar",
                                   "dbput", "dbdel", "userevent", "ping"})


class AmiError(Exception):
    pass


class UnsafeAction(ValueError):
    """An action field with CR, LF or NUL: it would end the header and start another. Never sent."""


def _check_fields(fields: dict) -> None:
    for key, value in fields.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            text = f"{key}{item}"
            if "\r" in text or "\n" in text or "\x00" in text:
                raise UnsafeAction(f"refused to send AMI {fields.get('Action')!r}: a line break or NUL in {key}")


class LoginRefused(AmiError):
    pass


class DeadConnection(AmiError):
    pass


class AmiClient:
    """Connects, logs in, pings, dispatches events to their subscribers; reconnects until cancelled.

    `on_event` (with `wanted_events`) and `on_connected` are the first subscriber and hook, for
    callers with a single one; the daemon's features use `subscribe` and `on_connect`.
    """

    forgetable_actions: tuple[str, ...] = ()  # read by panoramisk's protocol on close

    def __init__(
        self,
        cfg: AmiConfig,
        secret: str,
        on_event: EventHandler | None = None,
        wanted_events: Iterable[str] | None = None,
        on_connected: ConnectHook | None = None,
    ) -> None:
        self.cfg = cfg
        self._secret = secret
        self.bus = EventBus()
        if on_event is not None:
            self.subscribe(wanted_events, on_event)
        if on_connected is not None:
            self.on_connect(on_connected)
        self.awaiting_actions: deque = deque()
        self.protocol: StreamingAMIProtocol | None = None
        self._lost: asyncio.Future | None = None
        self.backoff = Backoff(cfg.reconnect_min, cfg.reconnect_max)
        self.logged_in = False
        self.connected_since: float | None = None
        self.disconnected_at: float | None = None
        self.last_event_at: float | None = None
        self.sessions = 0
        self.events = 0
        self._timestamp_unchecked = True  # the first event of each connection is looked at

    def subscribe(self, event_names: Iterable[str] | None, handler: EventHandler, name: str | None = None) -> None:
        """`handler(message)` for each of these events (None: every event); its exceptions stay its own."""
        self.bus.subscribe(event_names, handler, name)

    def on_connect(self, hook: ConnectHook, name: str | None = None) -> None:
        """`await hook(client, gap_s)` after each login, in the order added (gap_s None the first time)."""
        self.bus.on_connected(hook, name)

    @property
    def wanted_events(self) -> set[str] | None:
        return self.bus.wanted

    @property
    def handler_errors(self) -> int:
        return self.bus.handler_errors

    # --- called by panoramisk's protocol -------------------------------------------------
    def dispatch(self, message: Message) -> None:
        self.events += 1
        self.last_event_at = time.monotonic()
        if self._timestamp_unchecked:
            self._check_timestamp(message)
        self.bus.dispatch(message)

    def _check_timestamp(self, message: Message) -> None:
        """Without `timestampevents` the handlers fall back to arrival times: the records are still
        right, but a replay of the same events gives other times. Said once per connection."""
        self._timestamp_unchecked = False
        if message.get("Timestamp") is None:
            log.warning("ami_events_without_timestamp", ami_event=message.get("Event"),
                        hint="add `timestampevents = yes` to [general] in manager.conf, then `manager reload`")

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)

    # --- public --------------------------------------------------------------------------
    def health(self) -> dict:
        return {
            "connected": self.logged_in,
            "sessions": self.sessions,
            "events": self.events,
            "handler_errors": self.handler_errors,
            "handler_errors_by_handler": dict(self.bus.errors),
            "skipped_frames": self.protocol.splitter.skipped if self.protocol else 0,
            "oversized_frames": self.protocol.splitter.oversized if self.protocol else 0,
            "malformed_frames": self.protocol.malformed if self.protocol else 0,
            "events_by_name": dict(self.bus.by_name),
        }

    async def send_action(self, fields: dict, timeout: float = 10.0) -> Message | list[Message]:
        if self.protocol is None or self.protocol.closed:
            raise AmiError("not connected")
        # as_list=None: let panoramisk tell a list answer (EventList, an async Originate) from a
        # single one; its protocol's own default (False) would cut every list at its first line.
        # Except for the actions whose one-line answer panoramisk 1.4 misreads as the start of a
        # list ("Added interface to queue" for QueueAdd): their future would never resolve.
        _check_fields(fields)  # last line of defence; values come from typed parts (pbx_bridge.numbers)
        single = str(fields.get("Action", "")).lower() in SINGLE_ANSWER_ACTIONS
        future = self.protocol.send(Action(fields), as_list=False if single else None)
        async with asyncio.timeout(timeout):
            return await future

    async def run(self) -> None:
        """The reconnect loop; ends only by cancellation (which it lets through)."""
        while True:
            try:
                await self._session()
            except LoginRefused as exc:
                log.error("ami_login_refused", host=self.cfg.host, port=self.cfg.port, reason=str(exc))
            except (OSError, TimeoutError, AmiError) as exc:
                log.warning("ami_connection_failed", host=self.cfg.host, port=self.cfg.port, error=repr(exc))
            finally:
                self._close()
            raise_if_cancelled()
            delay = self.backoff.next_delay()
            log.info("ami_reconnect_wait", seconds=round(delay, 2))
            await asyncio.sleep(delay)

    # --- internals -----------------------------------------------------------------------
    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        self._timestamp_unchecked = True
        async with asyncio.timeout(self.cfg.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: StreamingAMIProtocol(self, self.wanted_events), self.cfg.host, self.cfg.port
            )
        self.protocol = protocol
        reply = await self._login()
        if not reply.success:
            raise LoginRefused(reply.get("message", "login refused"))
        self.logged_in = True
        self.sessions += 1
        self.connected_since = time.monotonic()
        gap = None if self.disconnected_at is None else time.monotonic() - self.disconnected_at
        log.info("ami_connected", host=self.cfg.host, port=self.cfg.port, version=protocol.version,
                 gap_s=None if gap is None else round(gap, 1))
        await self.bus.connected(self, gap)
        self.backoff.reset()
        pinger = asyncio.create_task(self._ping_until_dead(), name="ami-ping")
        try:
            done, _ = await asyncio.wait({self._lost, pinger}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pinger.cancel()
            await asyncio.wait({pinger})  # raises nothing of the pinger's; our own cancellation goes through
        if pinger in done and pinger.exception() is not None:
            raise pinger.exception()
        if self._lost in done:
            raise AmiError(f"connection lost: {self._lost.result()!r}"[:200])

    async def _login(self) -> Message:
        future = self.protocol.send(
            Action({"Action": "Login", "Username": self.cfg.username, "Secret": self._secret, "Events": "on"})
        )
        async with asyncio.timeout(self.cfg.connect_timeout):
            return await future

    async def _ping_until_dead(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.ping_interval)
            try:
                await self.send_action({"Action": "Ping"}, timeout=self.cfg.ping_timeout)
            except (TimeoutError, AmiError, ConnectionError) as exc:
                raise DeadConnection(f"no answer to Ping within {self.cfg.ping_timeout} s") from exc

    def _close(self) -> None:
        if self.logged_in:
            self.disconnected_at = time.monotonic()
            up = self.disconnected_at - (self.connected_since or self.disconnected_at)
            log.warning("ami_disconnected", connected_for_s=round(up, 1))
        self.logged_in = False
        if self.protocol is not None:
            self.protocol.close()
