"""The AMI protocol without a socket: a transport that records what is written and a factory that
collects the frames, so a test feeds `data_received` any bytes in any cuts."""

from __future__ import annotations

from collections.abc import Iterable

from pbx_bridge.ami.protocol import StreamingAMIProtocol


class FakeTransport:
    def __init__(self):
        self.closed = False
        self.written = []

    def write(self, data):
        self.written.append(data)

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True


class Collector:
    """Stands in for the AMI manager: the frames dispatched, and how often the connection was lost."""

    forgetable_actions = ()

    def __init__(self):
        self.awaiting_actions = []
        self.events = []
        self.lost = 0

    def dispatch(self, message):
        self.events.append(message)

    def connection_lost(self, exc):
        self.lost += 1


def connected(wanted: Iterable[str] | None) -> tuple[StreamingAMIProtocol, Collector]:
    """A protocol keeping the `wanted` events (None: all), connected to a FakeTransport."""
    factory = Collector()
    protocol = StreamingAMIProtocol(factory, wanted)
    protocol.connection_made(FakeTransport())
    return protocol, factory
