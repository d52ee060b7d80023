"""After an AMI login the live state takes Asterisk's account of waiting callers and members: the
leaves and removals of a gap (an Asterisk restart) sent no event and would otherwise stay forever."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pbx_bridge.live.state import LiveState


def state() -> LiveState:
    live = LiveState(ZoneInfo("Asia/Shanghai"), clock=lambda: 1_000.0)
    live.handle({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "gone", "Timestamp": "900"})
    live.handle({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "kept", "Timestamp": "950"})
    live.handle({"Event": "QueueMember", "Queue": "support", "Interface": "Local/201", "Name": "201", "Paused": "0"})
    live.handle({"Event": "QueueMember", "Queue": "sales", "Interface": "Local/201", "Name": "201", "Paused": "0"})
    return live


def test_callers_who_left_during_a_gap_no_longer_wait_on_the_board():
    live = state()
    live.resync_waiting([{"Event": "QueueEntry", "Queue": "support", "Uniqueid": "kept", "Wait": "50"},
                         {"Event": "QueueEntry", "Queue": "sales", "Uniqueid": "new", "Wait": "7"}])
    assert set(live.waiting["support"]) == {"kept"} and live.waiting["support"]["kept"][0] == 950
    assert live.waiting["sales"]["new"][0] == 993
    assert live.queue_snapshot("support")["waiting"] == 1


def test_memberships_asterisk_forgot_are_dropped():
    live = state()
    live.resync_members([{"Event": "QueueMember", "Queue": "sales", "Location": "Local/201"}])
    assert live.agents["Local/201"].queues == {"sales"}
