"""The tracker on hand-made event sequences taken from what the lab sent under load."""

from pbx_bridge.calls.records import CallRecord
from pbx_bridge.calls.tracker import CallTracker
from pbx_bridge.ring import RingConfig

CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")
CALLER, LEG = "1795471845.1301", "1795471854.1482"


def answered_then_caller_hangs_up():
    caller = {"Uniqueid": CALLER, "Linkedid": CALLER, "Channel": "PJSIP/loadcaller-000001bb", "Queue": "lab-load"}
    member = {"DestUniqueid": LEG, "DestLinkedid": CALLER, "Interface": "Local/5170@lab-load-agents/n",
              "MemberName": "Load 5170", "Queue": "lab-load"}
    return [
        {"Event": "QueueCallerJoin", **caller, "CallerIDNum": "13900044625", "CallerIDName": "刘芳", "Position": "1",
         "Timestamp": "1795471851.586174"},
        {"Event": "AgentCalled", **caller, **member, "Timestamp": "1795471854.592193"},
        {"Event": "QueueCallerLeave", **caller, "Timestamp": "1795471855.593111"},
        {"Event": "AgentConnect", **caller, **member, "HoldTime": "4", "RingTime": "1",
         "Timestamp": "1795471855.593148"},
        {"Event": "Hangup", **caller, "Cause": "16", "Timestamp": "1795471859.275015"},
        # published as the caller's channel went away: no Channel, no Uniqueid, only the member's side
        {"Event": "AgentComplete", **member, "HoldTime": "4", "TalkTime": "4", "Reason": "caller",
         "Timestamp": "1795471859.275027"},
    ]


def test_an_agent_complete_without_the_callers_channel_still_completes_the_call_at_once():
    seen = []
    tracker = CallTracker("pbx1", CN, lambda record: seen.append((record, tracker.event_ts)))
    for event in answered_then_caller_hangs_up():
        tracker.handle(event)
    calls = [(r, ts) for r, ts in seen if isinstance(r, CallRecord)]
    assert len(calls) == 1 and not tracker.active
    record, finished_ts = calls[0]
    assert (record.uniqueid, record.outcome, record.agent) == (CALLER, "answered", "Load 5170")
    assert record.ended_by == "caller" and record.talk_s == 3.682
    assert finished_ts == 1795471859.275027  # not 30 s later, by the sweeper
    assert tracker._answered_legs == {}


def test_an_agent_complete_of_an_unknown_leg_is_ignored():
    tracker = CallTracker("pbx1", CN, lambda record: None)
    tracker.handle({"Event": "AgentComplete", "DestUniqueid": "9.9", "Reason": "agent", "Timestamp": "1.0"})
    assert tracker.active == {} and tracker.emitted_calls == 0


def without(event, *prefixes):
    return {k: v for k, v in event.items() if not k.startswith(prefixes)}


def test_an_agent_complete_with_neither_channel_finds_the_call_by_queue_and_member():
    seen = []
    tracker = CallTracker("pbx1", CN, seen.append)
    *events, complete = answered_then_caller_hangs_up()
    for event in events + [without(complete, "Dest")]:  # only Queue, Interface, MemberName, times, Reason
        tracker.handle(event)
    record = next(r for r in seen if isinstance(r, CallRecord))
    assert (record.uniqueid, record.ended_by) == (CALLER, "caller") and not tracker.active


def two_calls_on_one_member(second_talk: int):
    """One member (ringinuse=yes) answered two callers; each has hung up."""
    events = []
    for uniqueid, leg, joined, connected in (("1.1", "1.11", 100.0, 102.0), ("2.2", "2.22", 110.0, 118.0)):
        caller = {"Uniqueid": uniqueid, "Linkedid": uniqueid, "Queue": "q"}
        member = {"DestUniqueid": leg, "Interface": "Local/201@agents/n", "MemberName": "Agent 201", "Queue": "q"}
        events += [{"Event": "QueueCallerJoin", **caller, "Timestamp": str(joined)},
                   {"Event": "AgentCalled", **member, **caller, "Timestamp": str(connected - 1)},
                   {"Event": "AgentConnect", **member, **caller, "Timestamp": str(connected)},
                   {"Event": "Hangup", **caller, "Timestamp": str(connected + 20)}]
    events.append({"Event": "AgentComplete", "Queue": "q", "Interface": "Local/201@agents/n",
                   "MemberName": "Agent 201", "HoldTime": "8", "TalkTime": str(second_talk), "Reason": "agent",
                   "Timestamp": "138.0"})
    return events


def test_a_member_on_two_calls_gets_the_complete_whose_hold_and_talk_times_agree():
    seen = []
    tracker = CallTracker("pbx1", CN, seen.append)
    for event in two_calls_on_one_member(second_talk=20):
        tracker.handle(event)
    assert [(r.uniqueid, r.ended_by) for r in seen if isinstance(r, CallRecord)] == [("2.2", "agent")]
    assert set(tracker.active) == {"1.1"}


def test_an_agent_complete_that_fits_no_call_or_several_is_left_to_the_grace_period():
    seen = []
    tracker = CallTracker("pbx1", CN, seen.append)
    for event in two_calls_on_one_member(second_talk=5):  # agrees with neither call
        tracker.handle(event)
    assert not [r for r in seen if isinstance(r, CallRecord)] and set(tracker.active) == {"1.1", "2.2"}
    tracker.sweep(now=200.0)
    assert {r.ended_by for r in seen if isinstance(r, CallRecord)} == {"system"}


def test_the_tracker_tells_a_room_the_queue_the_caller_and_whether_an_agent_answered():
    tracker = CallTracker("pbx1", CN, lambda record: None)
    events = answered_then_caller_hangs_up()
    assert tracker.call_of(CALLER) is None
    tracker.handle(events[0])
    assert tracker.call_of(CALLER) == ("lab-load", "刘芳", False)
    for event in events[1:4]:
        tracker.handle(event)
    assert tracker.call_of(CALLER) == ("lab-load", "刘芳", True)
