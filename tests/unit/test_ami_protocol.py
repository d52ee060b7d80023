"""The AMI protocol adapter: whole-frame decoding, early filtering, and no crash on garbage."""

from panoramisk.ami_protocol import AMIProtocol
from hypothesis import given, settings, strategies as st

from pbx_bridge.ami.protocol import MAX_FRAME, FrameSplitter, StreamingAMIProtocol
from tests.support.ami_wire import Collector, FakeTransport, connected

JOIN = (
    "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: Local/100@in-0001;2\r\n"
    "CallerIDNum: 13800138000\r\nCallerIDName: 张三丰\r\nUniqueid: 1700000000.1\r\nQueue: support\r\n"
    "Position: 1\r\nCount: 1\r\n\r\n"
).encode()
NEWEXTEN = b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: x\r\nUniqueid: 1\r\n\r\n"


def feed(protocol, data, cuts):
    pos = 0
    for cut in sorted(cuts) + [len(data)]:
        protocol.data_received(data[pos:cut])
        pos = cut


def make(wanted=("QueueCallerJoin",)):
    return connected(wanted)


def test_chinese_caller_name_survives_a_read_split_inside_a_character():
    data = b"Asterisk Call Manager/9.0.0\r\n" + JOIN
    cut = data.index("张".encode()) + 1  # in the middle of 张's three bytes
    protocol, factory = make()
    feed(protocol, data, [cut])
    assert [e["CallerIDName"] for e in factory.events] == ["张三丰"]
    assert protocol.version == "9.0.0"


def test_stock_panoramisk_loses_that_character():
    """The defect we work around: documents why the subclass exists."""
    factory = Collector()
    stock = AMIProtocol()
    stock.connection_made(FakeTransport())
    stock.factory = factory
    stock.encoding = "utf-8"
    cut = JOIN.index("张".encode()) + 1
    feed(stock, JOIN, [cut])
    assert factory.events[0]["CallerIDName"] != "张三丰"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(JOIN) * 3 - 1), max_size=12))
def test_any_split_of_the_stream_gives_the_same_events(cuts):
    protocol, factory = make()
    feed(protocol, JOIN + NEWEXTEN + JOIN, list(set(cuts)))
    assert [e["CallerIDName"] for e in factory.events] == ["张三丰", "张三丰"]


def test_unwanted_events_are_skipped_before_parsing():
    protocol, factory = make()
    feed(protocol, NEWEXTEN * 3 + JOIN, [])
    assert len(factory.events) == 1
    assert protocol.splitter.skipped == 3


def test_list_events_answering_our_action_are_kept():
    splitter = FrameSplitter(["QueueCallerJoin"])
    splitter.banner_seen = True
    frames = splitter.feed(b"Event: CoreShowChannel\r\nActionID: a1\r\nUniqueid: 1\r\n\r\n")
    assert len(frames) == 1


def test_garbage_does_not_stop_the_stream():
    protocol, factory = make()
    feed(protocol, b"\x00\xff\xfe garbage: \r\n\r\n" + b"no colon here\r\n\r\n" + JOIN, [5, 17])
    assert len(factory.events) == 1


def test_an_endless_frame_is_dropped_and_the_stream_resynchronises():
    protocol, factory = make()
    protocol.data_received(b"Event: QueueCallerJoin\r\nX: " + b"a" * (MAX_FRAME + 10))
    assert len(protocol.splitter.buffer) <= MAX_FRAME
    protocol.data_received(b"\r\n\r\n" + JOIN)
    assert [e["Queue"] for e in factory.events][-1] == "support"


def test_a_handler_exception_does_not_escape_the_protocol():
    class Exploding(Collector):
        def dispatch(self, message):
            raise RuntimeError("bug in our handler")

    protocol = StreamingAMIProtocol(Exploding(), None)
    protocol.connection_made(FakeTransport())
    protocol.data_received(JOIN + JOIN)  # must not raise
