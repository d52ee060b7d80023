"""Who hears which AMI event, and what one listener's bug may cost: only its own share.

Each feature subscribes the event names it handles; the connection asks Asterisk's stream for the
union of them (protocol.py skips every other frame before parsing). A handler that raises is
logged and counted under its own name, and the others still hear the event, the way xivo/wazo's
ExceptionLoggingPubsub isolates its subscribers: a bug in the callbacks must not cost the call
records. The same holds for the hooks run at each (re)connection.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Awaitable, Callable, Iterable, Mapping

import structlog

log = structlog.get_logger(__name__)

EventHandler = Callable[[Mapping], None]
ConnectHook = Callable[[Any, "float | None"], Awaitable[None]]
# Distinct event names counted by name (`by_name`, read by the metrics room); the rest, and any
# name longer than MAX_EVENT_NAME, under "other": the names come from the PBX's stream, and a
# hostile or broken peer must not grow the dict (or a Prometheus label set) without end.
MAX_EVENT_NAMES = 100
MAX_EVENT_NAME = 64


def _name_of(handler: Callable) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class EventBus:
    """Event names to handlers, in the order they subscribed."""

    def __init__(self) -> None:
        self._by_event: dict[str, list[tuple[str, EventHandler]]] = {}
        self._every: list[tuple[str, EventHandler]] = []  # subscribed to every event (names None)
        self._order: list[tuple[str, EventHandler, frozenset[str] | None]] = []
        self._hooks: list[tuple[str, ConnectHook]] = []
        self.errors: Counter[str] = Counter()
        self.by_name: dict[str, int] = {}  # events dispatched, by name as sent (capped, see MAX_EVENT_NAMES)

    def subscribe(self, event_names: Iterable[str] | None, handler: EventHandler, name: str | None = None) -> None:
        """`event_names` None: every event (and the stream is then not filtered at all)."""
        name = name or _name_of(handler)
        names = None if event_names is None else frozenset(e.lower() for e in event_names)
        self._order.append((name, handler, names))
        self._rebuild()

    def on_connected(self, hook: ConnectHook, name: str | None = None) -> None:
        """Run at each login, in the order added; `hook(client, gap_s)` (gap_s None at the first)."""
        self._hooks.append((name or _name_of(hook), hook))

    def _rebuild(self) -> None:
        self._by_event, self._every = {}, []
        for name, handler, names in self._order:
            if names is None:
                self._every.append((name, handler))
            for event in names or ():
                self._by_event.setdefault(event, [])
        for name, handler, names in self._order:  # each list keeps the subscription order
            for event, handlers in self._by_event.items():
                if names is None or event in names:
                    handlers.append((name, handler))

    @property
    def wanted(self) -> set[str] | None:
        """The event names the stream must carry; None: all of them."""
        if self._every:
            return None
        return {event for *_, names in self._order for event in names}

    @property
    def handler_errors(self) -> int:
        return sum(self.errors.values())

    def dispatch(self, message: Mapping) -> None:
        sent = message.get("Event") or ""
        if sent in self.by_name:
            self.by_name[sent] += 1
        else:
            self._count_new(sent)
        event = sent.lower()
        for name, handler in self._by_event.get(event, self._every):
            try:
                handler(message)
            except Exception:  # noqa: BLE001 - a bug in one handler must not cost the others (or the connection)
                self.errors[name] += 1
                log.exception("ami_event_handler_failed", handler=name, ami_event=message.get("Event"),
                              uniqueid=message.get("Uniqueid"))

    def _count_new(self, name: str) -> None:
        if not isinstance(name, str) or len(name) > MAX_EVENT_NAME or len(self.by_name) >= MAX_EVENT_NAMES:
            name = "other"
        self.by_name[name] = self.by_name.get(name, 0) + 1

    async def connected(self, client: Any, gap_s: float | None) -> None:
        for name, hook in self._hooks:
            try:
                await hook(client, gap_s)
            except Exception:  # noqa: BLE001 - one hook's failure must not skip the next ones
                self.errors[name] += 1
                log.exception("ami_connect_hook_failed", hook=name)
