"""AgentComplete without the caller's fields (Asterisk 22, when the caller's channel is gone by
the time app_queue reports, as after the nuisance notice): the call still gets its end and who
ended it, at once rather than after the grace period."""

from pbx_bridge.calls.tracker import CallTracker
from pbx_bridge.ring import RingConfig

RING = RingConfig(cadence="cn", two_rings="end_of_second_ring")
MEMBER = "Local/agent301@pbx-bridge-agents/n"


def answered(tracker, uid, t, queue="lab-ring1", interface=MEMBER):
    base = {"Uniqueid": uid, "Queue": queue}
    tracker.handle({"Event": "QueueCallerJoin", "Timestamp": str(t), "CallerIDNum": "13911112222", "Position": "1",
                    **base})
    tracker.handle({"Event": "AgentCalled", "Timestamp": str(t + 0.1), "Interface": interface,
                    "MemberName": "Agent 301", "DestUniqueid": f"{uid}9", **base})
    tracker.handle({"Event": "AgentConnect", "Timestamp": str(t + 1), "Interface": interface,
                    "MemberName": "Agent 301", "DestUniqueid": f"{uid}9", "RingTime": "1", **base})


def orphan_complete(t, queue="lab-ring1", interface=MEMBER):
    return {"Event": "AgentComplete", "Timestamp": str(t), "Queue": queue, "Interface": interface,
            "MemberName": "Agent 301", "HoldTime": "1", "TalkTime": "8", "Reason": "caller"}


def test_the_only_answered_call_of_that_member_gets_the_complete():
    calls = []
    tracker = CallTracker("pbx1", RING, calls.append)
    answered(tracker, "100.1", 1000)
    tracker.handle({"Event": "Hangup", "Timestamp": "1009", "Uniqueid": "100.1", "Cause": "16"})
    assert not [c for c in calls if type(c).__name__ == "CallRecord"], "an answered call waits for its AgentComplete"
    tracker.handle(orphan_complete(1009.001))
    [call] = [c for c in calls if type(c).__name__ == "CallRecord"]
    assert (call.uniqueid, call.outcome, call.ended_by) == ("100.1", "answered", "caller")


def test_an_ambiguous_complete_is_left_to_the_grace_period():
    calls = []
    tracker = CallTracker("pbx1", RING, calls.append)
    answered(tracker, "100.1", 1000)
    answered(tracker, "100.2", 1000.5)  # ringinuse: the same member on two calls
    tracker.handle(orphan_complete(1009))
    assert [c for c in calls if type(c).__name__ == "CallRecord"] == []
    assert not any(call.completed for call in tracker.active.values())


def test_another_queue_or_member_does_not_match():
    calls = []
    tracker = CallTracker("pbx1", RING, calls.append)
    answered(tracker, "100.1", 1000)
    tracker.handle(orphan_complete(1009, queue="support"))
    tracker.handle(orphan_complete(1009, interface="Local/agent302@pbx-bridge-agents/n"))
    assert not tracker.active["100.1"].completed
