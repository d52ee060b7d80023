"""panoramisk's AMI protocol, fixed for what a call center sends through it.

panoramisk 1.4 decodes every TCP read on its own with errors='ignore': a caller name in Chinese
split across two reads loses its characters (张三 arrives as 三). We split frames on bytes first
and decode only whole frames, which can never cut a UTF-8 sequence. It also builds a
case-insensitive dict for every event; a busy PBX sends mostly events we do not use, so we look at
the event name in the raw bytes and drop unwanted frames before any parsing, and a subscribed event
that no action waits for reaches the handlers as a plain mapping read from its text (event.py).
Responses, frames carrying an ActionID, and anything unusual take panoramisk's own path (Message,
Action, response routing), unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Iterable, Mapping, Protocol

import structlog
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from pbx_bridge.ami.event import parse_frame, read_event

log = structlog.get_logger(__name__)

FRAME_END = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/"
MAX_FRAME = 256 * 1024  # a frame larger than this is garbage; Asterisk's largest are a few KB
MAX_BANNER = 1024  # the banner line, CRLF included, is within this many bytes (Asterisk's: about 30)
_KEEP = len(FRAME_END) - 1  # while skipping: the bytes that may be the start of a frame end


class Factory(Protocol):
    """What the protocol needs from the client that owns it."""

    forgetable_actions: tuple[str, ...]
    awaiting_actions: object

    def dispatch(self, message: Message) -> None: ...

    def connection_lost(self, exc: BaseException | None) -> None: ...


class FrameSplitter:
    """Bytes in, whole wanted frames out; bounded, and indifferent to how TCP cut the stream.

    The stream is an optional banner line, then frames each ended by CRLF CRLF. A frame longer
    than `max_frame` is dropped whole, up to its own frame end, whether it came in one read or in
    many; the buffer never holds more than `max_frame` + 3 bytes between reads.
    """

    def __init__(self, wanted_events: Iterable[str] | None, max_frame: int = MAX_FRAME) -> None:
        self.wanted = None if wanted_events is None else {e.lower().encode() for e in wanted_events}
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.banner_seen = False
        self.skipping = False  # inside an oversized frame: drop everything up to its frame end
        self.version: str | None = None
        self.skipped = 0
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The wanted frames completed by `data`, blank ones left out."""
        return [frame for frame in self.split(data) if frame.strip() and self._wanted(frame)]

    def split(self, data: bytes) -> list[bytes]:
        """Every frame completed by `data`, unfiltered; an oversized one is counted and left out.

        Only the bytes that arrived (and the 3 before them) are searched for a frame end, and the
        buffer is cut in one `bytes.split`: a frame that takes many reads costs no more than one.
        """
        buf = self.buffer
        searched = max(0, len(buf) - _KEEP)  # no frame end before here: searched at the last read
        buf += data
        if not self.banner_seen:
            if not self._banner():
                return []
            searched = 0
        if self.skipping:
            end = buf.find(FRAME_END)
            if end < 0:
                del buf[: max(0, len(buf) - _KEEP)]
                return []
            self.skipping = False
            del buf[: end + len(FRAME_END)]
            searched = 0
        if buf.find(FRAME_END, searched) < 0:
            frames = []
        else:
            frames = bytes(buf).split(FRAME_END)
            rest = frames.pop()
            del buf[: len(buf) - len(rest)]
            if max(map(len, frames)) > self.max_frame:
                limit = self.max_frame
                self.oversized += sum(1 for frame in frames if len(frame) > limit)
                frames = [frame for frame in frames if len(frame) <= limit]
        if len(buf) > self.max_frame + _KEEP:
            # No frame end in sight, and the frame is already too long: drop it up to its end.
            self.oversized += 1
            self.skipping = True
            del buf[: len(buf) - _KEEP]
        return frames

    def _banner(self) -> bool:
        """Reads the banner line if the stream starts with one; False while that is not known yet."""
        buf = self.buffer
        if len(buf) < len(BANNER) and BANNER.startswith(buf):
            return False
        if buf.startswith(BANNER):
            end = buf.find(b"\r\n", 0, MAX_BANNER)
            if end >= 0:
                self.version = buf[len(BANNER):end].decode("ascii", "replace").strip()
                del buf[: end + 2]
            elif len(buf) < MAX_BANNER:
                return False
            else:
                self.oversized += 1  # a banner line that never ends: an oversized first frame
                self.skipping = True
        self.banner_seen = True
        return True

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
        splitter = self.splitter
        frames = splitter.split(data)
        if self.version is None and splitter.version:
            self.version = splitter.version
        wanted = splitter.wanted
        for frame in frames:
            if frame.startswith(b"Event: "):
                # The common case, decided on the name alone: a subscribed event goes to the
                # handlers as a plain dict; any other is dropped unless it answers an action.
                eol = frame.find(b"\r\n", 7)
                name = (frame[7:] if eol < 0 else frame[7:eol]).lower()
                if name == name.strip():  # else: the general path below
                    if wanted is None or name in wanted:
                        if name != b"shutdown":  # closes the connection: panoramisk's path
                            event = read_event(frame)
                            if event is not None:
                                self._dispatch(event)
                                continue
                        self._parse_and_handle(frame)
                        continue
                    if b"\r\nactionid:" not in frame.lower():
                        splitter.skipped += 1
                        continue
                    self._parse_and_handle(frame)  # a list answering one of our actions
                    continue
            if frame.strip() and splitter._wanted(frame):
                self._parse_and_handle(frame)

    def _parse_and_handle(self, frame: bytes) -> None:
        """panoramisk's path, for responses, frames that answer an action, and anything unusual."""
        try:
            message = parse_frame(frame)
        except Exception:  # noqa: BLE001 - a bad frame must never stop the stream
            message = None
        if message is None:
            self.malformed += 1
            return
        self.handle_message(message)

    def _dispatch(self, event: Mapping) -> None:
        """What panoramisk's handle_message does with an event no action waits for."""
        try:
            self.factory.dispatch(event)
        except Exception:  # noqa: BLE001 - our handlers' bugs must not drop the connection
            log.exception("ami_message_handler_failed", ami_event=event.get("Event"), uniqueid=event.get("Uniqueid"))

    def send(self, data, as_list=False):  # noqa: ANN001 - panoramisk's signature
        future = super().send(data, as_list=as_list)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: asyncio.Future) -> None:
        """An action whose caller is done with it (answered, failed, or given up on a timeout)
        leaves the table. panoramisk kept a timed-out one for the life of the connection, and every
        late frame with its ActionID piled up in it."""
        for key in [key for key, action in self.responses.items() if action.future is future]:
            del self.responses[key]

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
