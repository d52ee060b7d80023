"""The tracker on hand-made event sequences taken from what the lab sent under load."""

from pbx_bridge.calls.records import CallRecord
from pbx_bridge.calls.tracker import CallTracker
from pbx_bridge.config import RingConfig

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
