"""Asterisk pauses a member per queue (QueuePause names a queue; QueueStatus lists one line per
queue): what the live state knows of a pause, and so the `all-paused` incident, must be per queue,
and the same whether the daemon learned it from the QueueStatus read at its login or from events.

Found in the lab: the lab's agent 301 is a static, unpaused member of lab-ring1 and lab-ring2 and a
dynamic member of lab-team, paused there. A daemon started then read her lab-team line (paused)
and then her lab-ring lines (not paused), and one flag per agent kept the last word: lab-team
looked staffed, and a caller waited there with no incident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from panoramisk.actions import Action

from pbx_bridge.ami.bus import EventBus
from pbx_bridge.incidents.model import Book
from pbx_bridge.incidents.settings import IncidentsConfig
from pbx_bridge.incidents.watch import Watcher
from pbx_bridge.live import wiring as live_wiring
from tests.support.ami_wire import connected

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()
IFACE = "Local/agent301@pbx-bridge-agents/n"


def member_line(queue: str, paused: str, reason: str = "", membership: str = "static") -> str:
    """A QueueMember line of a QueueStatus answer, field for field as Asterisk 22 wrote it in the lab."""
    return (f"Event: QueueMember\r\nQueue: {queue}\r\nName: 彭建华\r\nLocation: {IFACE}\r\n"
            f"StateInterface: PJSIP/agent301\r\nMembership: {membership}\r\nPenalty: 0\r\nCallsTaken: 0\r\n"
            f"LastCall: 0\r\nLastPause: 0\r\nLoginTime: 1796182873\r\nInCall: 0\r\nStatus: 1\r\n"
            f"Paused: {paused}\r\nPausedReason: {reason}\r\nWrapuptime: 0\r\nActionID: {{id}}\r\n\r\n")


def params(queue: str) -> str:
    return (f"Event: QueueParams\r\nQueue: {queue}\r\nMax: 0\r\nStrategy: rrmemory\r\nCalls: 0\r\n"
            f"Holdtime: 0\r\nTalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 0\r\n"
            f"ServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\nWeight: 0\r\nActionID: {{id}}\r\n\r\n")


# The lab's answer at a daemon start, in Asterisk's order: lab-team (paused) before the lab-ring queues.
QUEUE_STATUS = ("Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n"
                + params("lab-team") + member_line("lab-team", "1", "training", "dynamic")
                + params("lab-ring1") + member_line("lab-ring1", "0")
                + params("lab-ring2") + member_line("lab-ring2", "0")
                + "Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 6\r\n\r\n")

# The same memberships as events would have told them: the lab-ring lines as they were loaded, then
# QueueAdd and QueuePause of lab-team, then a device-state change seen from lab-ring1.
EVENTS = [
    {"Event": "QueueMemberAdded", "Queue": "lab-ring1", "Interface": IFACE, "MemberName": "彭建华", "Status": "1",
     "Paused": "0"},
    {"Event": "QueueMemberAdded", "Queue": "lab-ring2", "Interface": IFACE, "MemberName": "彭建华", "Status": "1",
     "Paused": "0"},
    {"Event": "QueueMemberAdded", "Queue": "lab-team", "Interface": IFACE, "MemberName": "彭建华", "Status": "1",
     "Paused": "1", "PausedReason": ""},
    {"Event": "QueueMemberPause", "Queue": "lab-team", "Interface": IFACE, "MemberName": "彭建华", "Status": "1",
     "Paused": "1", "PausedReason": "training"},
    {"Event": "QueueMemberStatus", "Queue": "lab-ring1", "Interface": IFACE, "MemberName": "彭建华", "Status": "1",
     "Paused": "0"},
]


class ReplayAmi:
    """What a connect hook sees of the AMI client (`send_action`, `bus`), answered with recorded wire
    text through the real protocol (frame splitting, panoramisk's list answers)."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.protocol, _ = connected(None)

    async def send_action(self, fields: dict, timeout: float = 10.0):
        action = Action(fields)
        future = self.protocol.send(action, as_list=None)
        assert fields["Action"] == "QueueStatus"
        self.protocol.data_received(QUEUE_STATUS.replace("{id}", action.id).encode())
        return await future


class Room:
    """The live room wired as the daemon wires it, and the incidents' watcher reading it."""

    def __init__(self) -> None:
        self.now = T0
        self.ami = ReplayAmi()
        hooks: list = []
        cfg = SimpleNamespace(tz=TZ, mqtt=SimpleNamespace(enabled=False, service_level_s=20, long_wait_s=600,
                                                          repeat_caller_count=3),
                              wallboard=SimpleNamespace(enabled=False))
        core = SimpleNamespace(cfg=cfg, subscribe=self.ami.bus.subscribe, on_record=lambda fn: None,
                               on_connected=hooks.append)
        self.live = live_wiring.wire(core).state
        self.seed = hooks[0]
        settings = IncidentsConfig(open_after_s=4, close_after_s=10, check_interval=2, sample_interval_s=10)
        self.told: list[dict] = []
        self.book = Book("pbx1", settings, lambda row: None, self.told.append, self.live.stand, self.live.clear,
                         tz=TZ, clock=lambda: self.now)
        self.watcher = Watcher(self.book, settings, TZ, 0.8, 20, lambda: {"ami": {"connected": True}}, self.live,
                               lambda: None, clock=lambda: self.now)

    def caller_waits(self) -> None:
        self.ami.bus.dispatch({"Event": "QueueCallerJoin", "Queue": "lab-team", "Uniqueid": "1796182823.1",
                               "CallerIDNum": "13900009200", "Timestamp": str(self.now)})
        for _ in range(5):
            self.watcher.check()
            self.now += 2

    def seen(self) -> tuple:
        agent = self.live.agent_snapshot(IFACE)
        return ({k: v for k, v in agent.items() if k != "since"},
                {q: self.live.queue_snapshot(q)["agents"] for q in ("lab-team", "lab-ring1", "lab-ring2")})


async def test_an_agent_paused_in_one_queue_at_the_daemons_login_makes_that_queue_all_paused():
    room = Room()
    await room.seed(room.ami, None)  # the login's QueueStatus: nothing else tells of her
    room.caller_waits()
    assert [(n["type"], n["nature"], n["queue"]) for n in room.told] == [
        ("incident-opened", "all-paused", "lab-team")]
    assert room.live.queue_snapshot("lab-team")["agents"] == {"paused": 1}
    assert room.live.queue_snapshot("lab-ring1")["agents"] == {"available": 1}


def test_a_status_change_seen_from_another_queue_does_not_end_her_pause_in_this_one():
    room = Room()
    for event in EVENTS:
        room.ami.bus.dispatch(event)
    room.caller_waits()
    assert [(n["type"], n["nature"], n["queue"]) for n in room.told] == [
        ("incident-opened", "all-paused", "lab-team")]


async def test_the_login_listing_and_the_events_give_the_same_live_state():
    from_listing, from_events = Room(), Room()
    await from_listing.seed(from_listing.ami, None)
    for event in EVENTS:
        from_events.ami.bus.dispatch(event)
    assert from_listing.seen() == from_events.seen()
    agent, queues = from_listing.seen()
    # rung from lab-ring1 and lab-ring2, she is not on a break: paused only where she paused
    assert agent["state"] == "available" and not agent["paused"] and agent["queues"] == [
        "lab-ring1", "lab-ring2", "lab-team"]
    assert queues == {"lab-team": {"paused": 1}, "lab-ring1": {"available": 1}, "lab-ring2": {"available": 1}}
