"""Replays of recorded AMI streams through the same protocol code the live connection uses.

Used by the tests (transcripts recorded from the lab), by the benchmark, and by
`pbx-bridge replay` to load a recorded stream into a store.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

from panoramisk.message import Message

from pbx_bridge.ami.protocol import StreamingAMIProtocol


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _Sink:
    forgetable_actions: tuple[str, ...] = ()

    def __init__(self, on_event: Callable[[Message], None]) -> None:
        self.on_event = on_event
        self.awaiting_actions: deque = deque()

    def dispatch(self, message: Message) -> None:
        self.on_event(message)

    def connection_lost(self, exc: BaseException | None) -> None:
        pass


def replay(data: bytes, on_event: Callable[[Message], None], wanted_events: Iterable[str] | None = None,
           chunk: int = 4096) -> StreamingAMIProtocol:
    """Feed `data` in `chunk`-sized reads, as TCP would, and return the protocol for its counters."""
    protocol = StreamingAMIProtocol(_Sink(on_event), wanted_events)
    protocol.connection_made(_NullTransport())
    for start in range(0, len(data), chunk):
        protocol.data_received(data[start:start + chunk])
    return protocol
