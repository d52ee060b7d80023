"""panoramisk's AMI protocol, fixed for what a call center sends through it.

panoramisk 1.4 decodes every TCP read on its own with errors='ignore': a caller name in Chinese
split across two reads loses its characters (张三 arrives as 三). We split frames on bytes first
and decode only whole frames, which can never cut a UTF-8 sequence. It also builds a dict for every
event; a busy PBX sends mostly events we do not use, so we look at the event name in the raw bytes
and drop unwanted frames before any parsing. Everything else (Message, Action, response routing)
stays panoramisk's.
"""

from __future__ import annotations

from typing import Iterable, Protocol

import structlog
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

log = structlog.get_logger(__name__)

FRAME_END = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/"
MAX_FRAME = 256 * 1024  # a frame larger than this is garbage; Asterisk's largest are a few KB


class Factory(Protocol):
    """What the protocol needs from the client that owns it."""

    forgetable_actions: tuple[str, ...]
    awaiting_actions: object

    def dispatch(self, message: Message) -> None: ...

    def connection_lost(self, exc: BaseException | None) -> None: ...


class FrameSplitter:
    """Bytes in, whole wanted frames out; bounded, and indifferent to how TCP cut the stream."""

    def __init__(self, wanted_events: Iterable[str] | None) -> None:
        self.wanted = None if wanted_events is None else {e.lower().encode() for e in wanted_events}
        self.buffer = bytearray()
        self.banner_seen = False
        self.version: str | None = None
        self.skipped = 0
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buffer
        buf += data
        if not self.banner_seen:
            if len(buf) < len(BANNER) and BANNER.startswith(bytes(buf)):
                return []
            if buf.startswith(BANNER):
                end = buf.find(b"\r\n")
                if end < 0:
                    return self._guard([])
                self.version = buf[len(BANNER):end].decode("ascii", "replace").strip()
                del buf[: end + 2]
            self.banner_seen = True
        frames: list[bytes] = []
        start = 0
        while True:
            end = buf.find(FRAME_END, start)
            if end < 0:
                break
            frame = bytes(buf[start:end])
            start = end + len(FRAME_END)
            if frame.strip() and self._wanted(frame):
                frames.append(frame)
        del buf[:start]
        return self._guard(frames)

    def _guard(self, frames: list[bytes]) -> list[bytes]:
        if len(self.buffer) > MAX_FRAME:
            # No frame end in sight: drop what we have and resynchronise at the next frame end.
            self.oversized += 1
            cut = self.buffer.rfind(FRAME_END)
            del self.buffer[: cut + len(FRAME_END) if cut >= 0 else len(self.buffer)]
        return frames

    def _wanted(self, frame: bytes) -> bool:
        if self.wanted is None:
            return True
        frame = frame.lstrip(b"\r\n")
        if not frame[:6].lower() == b"event:":
            return True  # responses and anything unusual go on to the parser
        eol = frame.find(b"\r\n")
        name = (frame[6:] if eol < 0 else frame[6:eol]).strip().lower()
        if name in self.wanted or b"\r\nactionid:" in frame.lower():
            return True  # wanted, or part of a list answering one of our actions
        self.skipped += 1
        return False


def parse_frame(frame: bytes) -> Message | None:
    text = frame.decode("utf-8", "replace").replace("\r\n\r\n", "\r\n").strip()
    return Message.from_line(text)


class StreamingAMIProtocol(AMIProtocol):
    """AMIProtocol with whole-frame UTF-8 decoding, early event filtering and a guarded dispatch."""

    def __init__(self, factory: Factory, wanted_events: Iterable[str] | None = None, tap=None) -> None:
        super().__init__()
        self._factory = factory
        self._wanted_events = wanted_events
        self.tap = tap  # a file object receiving the raw stream (transcript recording), or None

    def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio signature
        super().connection_made(transport)
        self.factory = self._factory
        self.encoding = "utf-8"
        self.splitter = FrameSplitter(self._wanted_events)
        self.malformed = 0

    def data_received(self, data: bytes) -> None:
        if self.tap is not None:
            self.tap.write(data)
        for frame in self.splitter.feed(data):
            if self.version is None and self.splitter.version:
                self.version = self.splitter.version
            try:
                message = parse_frame(frame)
            except Exception:  # noqa: BLE001 - a bad frame must never stop the stream
                message = None
            if message is None:
                self.malformed += 1
                continue
            self.handle_message(message)

    def handle_message(self, message: Message) -> None:
        try:
            super().handle_message(message)
        except Exception:  # noqa: BLE001 - our handlers' bugs must not drop the connection
            log.exception("ami_message_handler_failed", ami_event=message.get("event"), uniqueid=message.get("uniqueid"))

    def close(self) -> None:
        # panoramisk would park unanswered actions for a resend; ours are stale by then.
        self.fail_pending(ConnectionError("AMI connection closed"))
        super().close()

    def fail_pending(self, exc: BaseException) -> None:
        """Wake every caller still waiting on an answer: the connection that would bring it is gone."""
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(exc)
        self.responses.clear()
