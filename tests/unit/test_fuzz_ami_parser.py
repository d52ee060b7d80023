"""Fuzzing the AMI protocol: bytes in through `data_received`, frames out to handlers and actions.

What must hold for any input, however TCP cuts it:
- `data_received` never raises;
- the buffer stays bounded: at most MAX_FRAME plus the 3 bytes of a frame end that may be half
  received; a frame longer than MAX_FRAME is dropped whole, up to its own frame end;
- the frames that come out do not depend on the read sizes, and are those of a plain,
  non-streaming reading of the same bytes (`reference_frames`, the specification);
- a valid frame after garbage and a frame end still comes through;
- an action waiting for its answer is not poisoned by a garbage frame carrying its ActionID, and
  the pending-action table does not keep actions nobody waits for.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

from hypothesis import given, strategies as st
from panoramisk.actions import Action

from pbx_bridge.ami.protocol import BANNER, FRAME_END, MAX_BANNER, MAX_FRAME, FrameSplitter, StreamingAMIProtocol
from pbx_bridge.calls.tracker import WANTED_EVENTS
from tests.support.ami_wire import Collector, FakeTransport, connected
from tests.support.fuzzing import fuzz_settings

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
REAL_FRAMES = sorted({frame for path in TRANSCRIPTS.glob("*.ami")
                      for frame in path.read_bytes().split(FRAME_END) if frame.strip()})
SLACK = len(FRAME_END) - 1  # a frame end can be cut after any of its first 3 bytes

JOIN = (
    "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: Local/100@in-0001;2\r\n"
    "CallerIDNum: 13800138000\r\nCallerIDName: 张三丰\r\nUniqueid: 1700000099.1\r\nQueue: support\r\n"
    "Position: 1\r\nCount: 1\r\n\r\n"
).encode()


def make(wanted=WANTED_EVENTS):
    return connected(wanted)


def chunks(data: bytes, cuts) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def feed_checked(protocol, pieces, max_frame=MAX_FRAME):
    for piece in pieces:
        protocol.data_received(piece)  # must not raise
        assert len(protocol.splitter.buffer) <= max(max_frame, MAX_BANNER) + SLACK


def as_plain(message):
    return dict(message.items())


def reference_frames(stream: bytes, wanted, max_frame: int = MAX_FRAME) -> tuple[list[bytes], str | None]:
    """The specification, read from the whole stream at once rather than in pieces.

    An optional banner line (`Asterisk Call Manager/...`, CRLF within MAX_BANNER bytes); then
    frames, each ended by CRLF CRLF. A banner too long counts as the start of an oversized frame.
    A frame longer than `max_frame` is dropped; so are blank frames and unwanted events. The
    unterminated rest is not a frame (yet).
    """
    if len(stream) < len(BANNER) and BANNER.startswith(stream):
        return [], None
    version, skip_first = None, False
    if stream.startswith(BANNER):
        end = stream.find(b"\r\n", 0, MAX_BANNER)
        if end >= 0:
            version = stream[len(BANNER):end].decode("ascii", "replace").strip()
            stream = stream[end + 2:]
        elif len(stream) < MAX_BANNER:
            return [], None  # the banner line may still end
        else:
            skip_first = True
    segments = stream.split(FRAME_END)[:-1]
    if skip_first:
        segments = segments[1:]
    keep = FrameSplitter(wanted)._wanted
    return [s for s in segments if len(s) <= max_frame and s.strip() and keep(s)], version


# --- strategies ---------------------------------------------------------------------------

PIECES = [
    b"\r", b"\n", b"\r\n", FRAME_END, b"\r\n\r", b"\n\n", b": ", b":", b" ", b"\x00", b"\xff", b"\xfe\xff",
    "张".encode()[:2], b"\xed\xa0\x80", b"\xc0\xaf", b"Event: ", b"Event: QueueCallerJoin\r\n",
    b"Event: Shutdown\r\n", b"Response: Success\r\n", b"Response: Follows\r\n", b"Response: Error\r\n",
    b"ActionID: a1\r\n", b"Message: will follow\r\n", b"EventList: start\r\n", b"header without colon\r\n",
    b"Uniqueid: 1700000000.1\r\n", b"Timestamp: nan\r\n", b"--END COMMAND--", BANNER, BANNER + b"5.0.0\r\n",
    b"a" * 300,
]
SOUP = st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join)


@st.composite
def mutated_transcript(draw):
    """A few real frames from the lab's transcripts, then byte-level mutations."""
    frames = draw(st.lists(st.sampled_from(REAL_FRAMES), min_size=1, max_size=5))
    data = bytearray(FRAME_END.join(frames) + FRAME_END)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "crlf"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(PIECES))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 40))]
        elif op == "duplicate":
            size = draw(st.integers(1, 200))
            data[pos:pos] = data[pos:pos + size]
        elif op == "crlf":  # a CRLF turned into a lone CR or LF
            at = data.find(b"\r\n", pos)
            if at >= 0:
                data[at:at + 2] = draw(st.sampled_from([b"\r", b"\n", b"\n\r"]))
    if draw(st.booleans()):
        data[0:0] = BANNER + b"9.0.0\r\n"
    return bytes(data)


STREAMS = st.one_of(st.binary(max_size=600), SOUP, mutated_transcript())
# read sizes: a few cuts anywhere, or one byte per read
CUTS = st.one_of(st.lists(st.integers(min_value=1, max_value=4000), max_size=20), st.just(range(1, 4000)))
WANTED = st.sampled_from([WANTED_EVENTS, None, ("QueueCallerJoin",)])


# --- framing -----------------------------------------------------------------------------

@fuzz_settings(3.0)
@given(STREAMS, CUTS, WANTED)
def test_any_bytes_in_any_reads_give_the_frames_of_one_whole_read(stream, cuts, wanted):
    pieces, whole = make(wanted), make(wanted)
    feed_checked(pieces[0], chunks(stream, cuts))
    feed_checked(whole[0], [stream])
    assert [as_plain(m) for m in pieces[1].events] == [as_plain(m) for m in whole[1].events]
    for counter in ("malformed",):
        assert getattr(pieces[0], counter) == getattr(whole[0], counter)
    for counter in ("skipped", "oversized"):
        assert getattr(pieces[0].splitter, counter) == getattr(whole[0].splitter, counter)
    assert pieces[0].version == whole[0].version


@fuzz_settings(3.0)
@given(STREAMS, CUTS, WANTED)
def test_the_splitter_gives_the_frames_of_the_specification(stream, cuts, wanted):
    splitter = FrameSplitter(wanted)
    frames = [frame for piece in chunks(stream, cuts) for frame in splitter.feed(piece)]
    assert (frames, splitter.version) == reference_frames(stream, wanted)


LONG_LINES = st.lists(st.one_of(st.sampled_from(PIECES), st.integers(1, 200).map(lambda n: b"x" * n)),
                      max_size=30).map(b"".join)


@fuzz_settings(2.0)
@given(st.one_of(LONG_LINES, mutated_transcript()), CUTS, st.integers(8, 300))
def test_frames_longer_than_the_limit_are_dropped_whole_however_they_arrive(stream, cuts, max_frame):
    splitter = FrameSplitter(None, max_frame=max_frame)
    frames = []
    for piece in chunks(stream, cuts):
        frames += splitter.feed(piece)
        assert len(splitter.buffer) <= max(max_frame, MAX_BANNER) + SLACK
    assert (frames, splitter.version) == reference_frames(stream, None, max_frame)
    assert all(len(frame) <= max_frame for frame in frames)


def test_the_tail_of_an_oversized_frame_is_not_read_as_a_frame():
    """The tail after the cut used to come out as a frame of its own, with whatever headers it had."""
    protocol, factory = make()
    protocol.data_received(b"Event: Newexten\r\nAppData: " + b"a" * (MAX_FRAME + 10))
    protocol.data_received(b"\r\n" + JOIN.replace(b"\r\n\r\n", b"\r\n"))  # still the same frame
    protocol.data_received(b"\r\n" + JOIN)
    assert [e["Uniqueid"] for e in factory.events] == ["1700000099.1"]
    assert protocol.splitter.oversized == 1


def test_an_oversized_frame_in_one_read_is_dropped_like_one_in_many():
    protocol, factory = make(None)
    protocol.data_received(b"Event: Foo\r\nX: " + b"a" * (MAX_FRAME + 10) + FRAME_END + JOIN)
    assert [e["Event"] for e in factory.events] == ["QueueCallerJoin"]
    assert protocol.splitter.oversized == 1


def test_a_banner_line_without_end_is_bounded():
    protocol, factory = make()
    protocol.data_received(BANNER + b"9" * (4 * MAX_BANNER))
    assert len(protocol.splitter.buffer) <= SLACK
    protocol.data_received(FRAME_END + JOIN)
    assert protocol.version is None
    assert [e["Uniqueid"] for e in factory.events] == ["1700000099.1"]


def test_memory_stays_bounded_under_an_endless_frame():
    """16 MiB without a frame end, in 64 KiB reads (asyncio reads up to 256 KiB at a time)."""
    protocol, factory = make()
    chunk = b"Event: QueueCallerJoin\r\nX: " + b"a" * (64 * 1024)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(256):
            protocol.data_received(chunk)
            assert len(protocol.splitter.buffer) <= MAX_FRAME + SLACK
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_FRAME, f"peak {peak} bytes"
    protocol.data_received(FRAME_END + JOIN)
    assert [e["Uniqueid"] for e in factory.events] == ["1700000099.1"]


def test_memory_stays_bounded_under_endless_junk_frames():
    """Many small frames, malformed or unwanted: nothing accumulates per frame."""
    protocol, factory = make()
    chunk = (b"no colon\r\n\r\n" + b"Event: Newexten\r\nUniqueid: 1\r\n\r\n" + b"\xff\xfe: x\r\n\r\n") * 1000
    protocol.data_received(chunk)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            protocol.data_received(chunk)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes kept"
    assert protocol.malformed == 2 * 21_000 and factory.events == []


# --- dispatch ----------------------------------------------------------------------------

@fuzz_settings(2.0)
@given(st.one_of(SOUP, mutated_transcript(), st.binary(max_size=300)), CUTS)
def test_a_valid_frame_after_garbage_and_a_frame_end_comes_through(garbage, cuts):
    protocol, factory = make()
    feed_checked(protocol, chunks(garbage + FRAME_END + JOIN, cuts))
    if not protocol.closed:  # an `Event: Shutdown` in the garbage closes the connection, as designed
        assert factory.events and factory.events[-1]["Uniqueid"] == "1700000099.1"
        assert factory.events[-1]["CallerIDName"] == "张三丰"


@fuzz_settings(1.0)
@given(st.one_of(SOUP, mutated_transcript(), st.binary(max_size=300)), CUTS)
def test_a_shutdown_after_garbage_closes_the_connection_once_and_fails_pending_actions(garbage, cuts):
    async def check():
        protocol, factory = make()
        futures = pending(protocol)
        shutdown = b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n"
        feed_checked(protocol, chunks(garbage + FRAME_END + shutdown, cuts))
        assert protocol.closed and protocol.transport.closed and factory.lost == 1
        await asyncio.sleep(0)
        assert all(f.done() for f in futures) and protocol.responses == {}

    asyncio.run(check())


@fuzz_settings(1.0)
@given(st.one_of(SOUP, mutated_transcript(), st.binary(max_size=300)))
def test_a_raising_handler_never_escapes_data_received(stream):
    class Exploding(Collector):
        def dispatch(self, message):
            raise RuntimeError("bug in our handler")

    protocol = StreamingAMIProtocol(Exploding(), None)
    protocol.connection_made(FakeTransport())
    protocol.data_received(stream + FRAME_END + JOIN)


HEADERS = [
    "Response: Success", "Response: Error", "Response: Follows", "Response: Goodbye", "Event: QueueMember",
    "Event: QueueStatusComplete", "EventList: start", "EventList: Complete", "Message: will follow",
    "Message: Queue status will follow", "Message: Added interface to queue", "SubEvent: Start", "SubEvent: End",
    "Ping: Pong", "Output: junk", "no colon here", ":", "Message:", "Event:", "\udcff", "张三丰: x",
]


@st.composite
def aimed_garbage(draw, ids):
    """Frames carrying the ActionIDs of pending actions, with anything else around them."""
    frames = []
    for _ in range(draw(st.integers(1, 6))):
        lines = draw(st.lists(st.sampled_from(HEADERS), max_size=6))
        if draw(st.booleans()):  # most garbage that gets anywhere starts like an answer
            lines.insert(0, draw(st.sampled_from(HEADERS[:6])))
        for _ in range(draw(st.integers(0, 2))):
            lines.insert(draw(st.integers(0, len(lines))), f"ActionID: {draw(st.sampled_from(ids))}")
        frames.append("\r\n".join(lines).encode("utf-8", "surrogateescape"))
    return FRAME_END.join(frames) + FRAME_END


def pending(protocol):
    ping = Action({"Action": "Ping", "ActionID": "p1"})
    status = Action({"Action": "QueueStatus", "ActionID": "q1"})
    return protocol.send(ping, as_list=None), protocol.send(status, as_list=None)


ANSWERS = (b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n"
           b"Response: Success\r\nActionID: q1\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n"
           b"Event: QueueMember\r\nActionID: q1\r\nName: Agent 201\r\n\r\n"
           b"Event: QueueStatusComplete\r\nActionID: q1\r\nEventList: Complete\r\n\r\n")


@fuzz_settings(2.0)
@given(st.data())
def test_garbage_aimed_at_pending_actions_never_keeps_them_from_their_answer(data):
    async def check():
        protocol, factory = make()
        futures = pending(protocol)
        garbage = data.draw(aimed_garbage(["p1", "q1", "nobody"]), label="garbage")
        feed_checked(protocol, chunks(garbage + ANSWERS, data.draw(CUTS, label="cuts")))
        await asyncio.sleep(0)
        assert all(future.done() for future in futures)
        assert protocol.responses == {}

    asyncio.run(check())


def test_a_frame_with_a_routing_header_twice_is_malformed_not_a_handler_failure(capsys):
    """Two ActionID (or Event) headers made a list, and panoramisk's lookup raised inside the
    handler: a traceback in the log for every such frame. The frame is now counted as malformed."""
    async def check():
        protocol, factory = make(None)
        ping, _ = pending(protocol)
        protocol.data_received(b"Response: Error\r\nActionID: p1\r\nActionID: q1\r\n\r\n"
                               b"Event: Hangup\r\nEvent: Newexten\r\nUniqueid: 1\r\n\r\n")
        assert protocol.malformed == 2 and factory.events == [] and not ping.done()
        protocol.data_received(ANSWERS)
        assert ping.result()["Ping"] == "Pong"

    asyncio.run(check())
    assert "ami_message_handler_failed" not in capsys.readouterr().out


def test_an_action_nobody_waits_for_any_more_is_forgotten():
    """A caller's timeout cancels the future; panoramisk kept the action, and every late frame with
    its ActionID piled up in it, for the life of the connection."""
    async def check():
        protocol, factory = make()
        futures = pending(protocol)
        for future in futures:
            future.cancel()  # what asyncio.wait_for does on timeout
        await asyncio.sleep(0)
        assert protocol.responses == {}
        late = b"Event: QueueMember\r\nActionID: q1\r\nName: Agent 201\r\n\r\n" * 1000
        protocol.data_received(late)
        assert protocol.responses == {}

    asyncio.run(check())


@fuzz_settings(1.0)
@given(st.lists(st.sampled_from(HEADERS + ["ActionID: c1", "Output: line", "--END COMMAND--", ""]), max_size=12))
def test_response_follows_bodies_answer_a_command_or_are_dropped(lines):
    async def check():
        protocol, factory = make()
        future = protocol.send(Action({"Action": "Command", "Command": "core show channels", "ActionID": "c1"}),
                               as_list=None)
        body = "\r\n".join(["Response: Follows", "Privilege: Command", "ActionID: c1"] + lines)
        protocol.data_received(body.encode("utf-8", "surrogateescape") + FRAME_END)
        protocol.data_received(b"Response: Success\r\nActionID: c1\r\nMessage: done\r\n\r\n")
        await asyncio.sleep(0)
        assert future.done() and protocol.responses == {}

    asyncio.run(check())
