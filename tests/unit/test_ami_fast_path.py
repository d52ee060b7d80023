"""The AMI fast path (name looked up on the bytes, kept events as plain dicts) against the path it
replaced: panoramisk's Message for every wanted frame. Same events, same mappings, same counters,
same answers to actions, same call records, for the lab's transcripts and for any bytes."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from panoramisk.actions import Action
from panoramisk.message import Message

from pbx_bridge.ami.event import AmiEvent, LazyEvent, parse_event, parse_frame
from pbx_bridge.ami.protocol import FRAME_END, StreamingAMIProtocol
from pbx_bridge.ami.transcript import _Sink
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.ring import RingConfig
from tests.support.ami_wire import Collector, FakeTransport
from tests.support.fuzzing import fuzz_settings
from tests.unit.test_fuzz_ami_parser import CUTS, PIECES, STREAMS, WANTED, chunks, mutated_transcript

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


class LegacyProtocol(StreamingAMIProtocol):
    """The path before the fast one, kept here as the reference: every wanted frame parsed by
    panoramisk into a Message and routed by its handle_message."""

    def data_received(self, data: bytes) -> None:
        if self.tap is not None:
            self.tap.write(data)
        frames = self.splitter.feed(data)
        if self.version is None and self.splitter.version:
            self.version = self.splitter.version
        for frame in frames:
            try:
                message = parse_frame(frame)
            except Exception:  # noqa: BLE001
                message = None
            if message is None:
                self.malformed += 1
                continue
            self.handle_message(message)


def connect(cls, factory, wanted):
    protocol = cls(factory, wanted)
    protocol.connection_made(FakeTransport())
    return protocol


PROBES = ("Event", "event", "EVENT", "Uniqueid", "uniqueid", "UniqueID", "Result", "result", "ActionID", "Nope",
          "Variable", "Value", "Key", "content", "Content", "Message", "Timestamp", "", ": ", "a: b", "张三丰",
          "Key:", " Key")


def seen(message) -> tuple:
    """What a handler can tell of a message: how any spelling reads (asked first, as handlers do,
    before anything reads the whole mapping), then its items in order."""
    reads = ([message.get(key) for key in PROBES], [key in message for key in PROBES], message.uniqueid,
             message.id, message.action_id, bool(message.success), message.content)
    return reads, list(message.items()), len(message)


def run_both(stream: bytes, cuts, wanted, actions: bool = False):
    async def run(cls):
        factory = Collector()
        protocol = connect(cls, factory, wanted)
        futures = []
        if actions:
            futures = [protocol.send(Action({"Action": "Ping", "ActionID": "p1"}), as_list=None),
                       protocol.send(Action({"Action": "QueueStatus", "ActionID": "q1"}), as_list=None)]
        for piece in chunks(stream, cuts):
            protocol.data_received(piece)
        await asyncio.sleep(0)
        answers = [repr(f.result()) if f.done() and not f.cancelled() and f.exception() is None
                   else (f.done(), repr(f.exception()) if f.done() and not f.cancelled() else None) for f in futures]
        return ([seen(m) for m in factory.events], protocol.malformed, protocol.splitter.skipped,
                protocol.splitter.oversized, protocol.version, protocol.closed, factory.lost, answers,
                sorted(protocol.responses))

    return asyncio.run(run(LegacyProtocol)), asyncio.run(run(StreamingAMIProtocol))


# Frames the fast path must hand back to panoramisk: a header twice or in two spellings, an
# ActionID/CommandID, a quoted Result, a name with blanks around it, a Shutdown in any case.
ODD = [
    b"Event: Hangup\r\n", b"Event: VarSet\r\n", b"Event: varset\r\n", b"Event: VarSet \r\n", b"Event:  Hangup\r\n",
    b"Event: shutdown\r\n", b"Event: Newexten\r\n", b"Uniqueid: 1\r\n", b"uniqueid: 2\r\n", b"UNIQUEID: 3\r\n",
    b"Result: %41%20b \r\n", b"result: x\r\n", b"ActionID: q1\r\n", b"actionid: p1\r\n", b"CommandID: c1\r\n",
    b"Event: QueueMember\r\nActionID: q1\r\n", b"EventList: Complete\r\n", b"Message: m\r\n", b"SubEvent: x\r\n",
    b"Value: a: b\r\n", b"Variable: QUEUESTATUS\r\n", b"no colon\r\n", b"Key:\r\n", b"Key: \r\n", b"\xe5\xbc",
    b"Response: Success\r\nActionID: p1\r\n", b"Response: Success\r\nActionID: q1\r\nEventList: start\r\n",
    b"Event: QueueStatusComplete\r\nActionID: q1\r\nEventList: Complete\r\n",
    b"Variable: X\r\n", b"variable: Y\r\n", b"Value:\r\n", b"Value: \r\n", b"Content: c\r\n", b"Message: n\r\n",
    b"Key: 1\r\n", b"key: 2", b"Key:: 3\r\n", b": e\r\n", b"a: b: c\r\n", b" Key: 4\r\n", b"Response: r\r\n",
    b"Event: Hangup\r\nUniqueid: 9\r\nTimestamp: 1.5\r\n", b"\r\n", b"\x85", b"\xc2\x85", b"\xc2\xa0",
]
ODD_STREAMS = st.lists(st.lists(st.sampled_from(ODD + PIECES), min_size=1, max_size=6).map(b"".join),
                       max_size=8).map(lambda frames: FRAME_END.join(frames) + FRAME_END)
ODD_WANTED = st.sampled_from([WANTED_EVENTS, None, ("QueueCallerJoin",), ("Hangup", "VarSet", "Shutdown")])


@fuzz_settings(2.0)
@given(st.one_of(STREAMS, ODD_STREAMS, mutated_transcript()), CUTS, st.one_of(WANTED, ODD_WANTED), st.booleans())
def test_the_fast_path_gives_handlers_and_waiters_what_panoramisks_path_gave(stream, cuts, wanted, actions):
    legacy, fast = run_both(stream, cuts, wanted, actions)
    assert fast == legacy


@pytest.mark.parametrize("name", sorted(path.name for path in TRANSCRIPTS.glob("*.ami")))
@pytest.mark.parametrize("chunk", [1, 97, 4096])
def test_every_transcript_gives_the_same_events_and_records_on_both_paths(name, chunk):
    data = (TRANSCRIPTS / name).read_bytes()

    def replay(cls):
        records, events = [], []
        tracker = CallTracker("pbx1", CN, records.append)

        def on_event(message):
            events.append(seen(message))
            tracker.handle(message)

        protocol = connect(cls, _Sink(on_event), WANTED_EVENTS)
        for start in range(0, len(data), chunk):
            protocol.data_received(data[start:start + chunk])
        return events, [dataclasses.asdict(r) | {"kind": type(r).__name__} for r in records], protocol.splitter.skipped

    legacy, fast = replay(LegacyProtocol), replay(StreamingAMIProtocol)
    assert fast == legacy
    assert legacy[1]  # the transcript did produce records to compare


def test_a_subscribed_event_reaches_its_handlers_without_a_panoramisk_message(monkeypatch):
    """panoramisk's Message (a Python-level case-insensitive dict) was most of a kept frame's cost."""
    built = []
    original = Message.from_line.__func__
    monkeypatch.setattr(Message, "from_line", classmethod(lambda cls, line: built.append(line) or original(cls, line)))
    factory = Collector()
    protocol = connect(StreamingAMIProtocol, factory, WANTED_EVENTS)
    protocol.data_received((TRANSCRIPTS / "abandoned.unfiltered.ami").read_bytes())
    answering = [event for event in factory.events if "ActionID" in event]  # an Originate's answer, here
    assert len(built) == len(answering) == 1
    assert all(type(event) in (AmiEvent, LazyEvent) for event in factory.events if event not in answering)
    assert len(factory.events) > 50


def test_an_event_answering_an_action_still_goes_through_panoramisk_to_its_waiter():
    async def check():
        factory = Collector()
        protocol = connect(StreamingAMIProtocol, factory, WANTED_EVENTS)
        future = protocol.send(Action({"Action": "QueueStatus", "ActionID": "q1"}), as_list=None)
        protocol.data_received(b"Response: Success\r\nActionID: q1\r\nEventList: start\r\n\r\n"
                               b"Event: QueueMember\r\nActionID: q1\r\nName: Agent 201\r\n\r\n"
                               b"Event: Hangup\r\nActionID: q1\r\nUniqueid: 1\r\n\r\n"
                               b"Event: QueueStatusComplete\r\nActionID: q1\r\nEventList: Complete\r\n\r\n")
        answer = await future
        assert [m.get("Event") for m in answer] == [None, "QueueMember", "Hangup", "QueueStatusComplete"]
        assert factory.events == []

    asyncio.run(check())


def test_an_event_reads_like_panoramisks_message_under_any_spelling():
    frame = b"Event: Hangup\r\nUniqueid: 1.2\r\nCause: 16\r\nCallerIDName: \xe5\xbc\xa0\xe4\xb8\x89"
    event, message = parse_event(frame), parse_frame(frame)
    assert dict(event) == dict(message.items())
    for key in ("uniqueid", "UNIQUEID", "Cause", "callerIDname", "Missing"):
        assert event.get(key) == message.get(key) and (key in event) == (key in message)
    assert event["uniqueid"] == "1.2" and event.cause == "16" and event.missing == ""
    with pytest.raises(KeyError):
        event["Missing"]
    assert parse_event(b"Event: Hangup\r\nUniqueid: 1\r\nUniqueID: 2") is None  # panoramisk keeps the last
    assert parse_event(b"Event: Hangup\r\nResult: %41") is None  # panoramisk unquotes it


def test_the_tracker_drops_a_varset_of_a_channel_it_does_not_follow_without_splitting_its_headers():
    """Most frames an unfiltered stream keeps are such VarSets: the tracker reads Event and Uniqueid."""
    kept = []
    tracker = CallTracker("pbx1", CN, [].append)
    protocol = connect(StreamingAMIProtocol, _Sink(lambda event: (kept.append(event), tracker.handle(event))),
                       WANTED_EVENTS)
    protocol.data_received(b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/x-1\r\n"
                           b"Uniqueid: 1795460002.999\r\nVariable: HOLD\r\nValue: 3\r\n\r\n")
    assert len(kept) == 1 and isinstance(kept[0], LazyEvent) and kept[0]._full is None
    assert kept[0]["Variable"] == "HOLD" and kept[0]._full is None
    assert dict(kept[0]) == dict(parse_frame(kept[0]._frame).items())
