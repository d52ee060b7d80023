"""The ladder, replayed: AMI events and QueueStatus answers in, QueueAdd/QueueRemove, alerts and records out."""

import asyncio

import pytest

from pbx_bridge.escalation import state
from pbx_bridge.escalation.ladder import Escalator, StepState
from pbx_bridge.escalation.records import EscalationStepRecord
from pbx_bridge.escalation.settings import EscalationConfig


class Reply(dict):
    @property
    def success(self):
        return self.get("Response") == "Success"


def config(**over):
    data = {
        "enabled": True,
        "supervisors": {"Supervisor Wu": "super501", "Seat 1": "seat601"},
        "queues": {"support": {"calm_for": 60, "steps": [
            {"name": "supervisors", "waiting": 3, "add": [{"member": "Supervisor Wu", "penalty": 2}]},
            {"name": "seats", "waiting": 5, "longest_wait": 120, "add": [{"member": "Seat 1"}],
             "priority": {"level": 10, "callers": ["13800138000"], "dids": ["4000"]},
             "callback_offer_after": 20},
        ]}},
        "retry_remove_s": 15,
    }
    data.update(over)
    return EscalationConfig.model_validate(data)


class Pbx:
    """The queue as Asterisk would answer for it: callers waiting and members with their status."""

    def __init__(self):
        self.actions, self.entries, self.members, self.numbers = [], {}, {}, {}
        self.now = 1000.0

    async def send(self, action, timeout):
        self.actions.append(action)
        name = action["Action"]
        if name == "QueueStatus":
            out = [{"Event": "QueueParams", "Queue": action["Queue"], "Calls": str(len(self.entries))}]
            out += [{"Event": "QueueEntry", "Queue": action["Queue"], "Uniqueid": uid,
                     "Wait": str(int(self.now - joined)), "Channel": f"PJSIP/trunk-{uid}",
                     "CallerIDNum": self.numbers.get(uid, "13900000000")} for uid, joined in self.entries.items()]
            out += [{"Event": "QueueMember", "Queue": action["Queue"], "Location": i, "Status": s,
                     "InCall": "1" if s == "2" else "0"} for i, s in self.members.items()]
            return out
        if name == "QueueAdd":
            if action["Interface"] in self.members:
                return Reply(Response="Error", Message="Unable to add interface: Already there")
            self.members[action["Interface"]] = "1"
            return Reply(Response="Success", Message="Added interface to queue")
        if name == "QueueChangePriorityCaller":
            return Reply(Response="Success", Message="Priority change for caller on queue")
        if name == "QueueRemove":
            self.members.pop(action["Interface"], None)
            return Reply(Response="Success", Message="Removed interface from queue")
        raise AssertionError(action)

    def done(self, name):
        return [a for a in self.actions if a["Action"] == name]


@pytest.fixture
def world():
    pbx = Pbx()
    out = {"records": [], "notices": [], "standing": {}}
    esc = Escalator("pbx1", config(), pbx.send, out["records"].append, out["notices"].append,
                    out["standing"].__setitem__, lambda key: out["standing"].pop(key, None), lambda: pbx.now)
    return esc, pbx, out


def look(esc, pbx, seconds=0.0):
    pbx.now += seconds
    asyncio.run(esc.run_once())


def callers(pbx, n, start=0):
    for i in range(start, start + n):
        pbx.entries[f"c{i}"] = pbx.now


def actions(out):
    return [(r.step, r.action) for r in out["records"]]


SUPER = "Local/super501@pbx-bridge-agents/n"
SEAT = "Local/seat601@pbx-bridge-agents/n"


def test_callers_piling_up_add_the_supervisor_through_the_agents_ring_twice_leg(world):
    esc, pbx, out = world
    callers(pbx, 2)
    look(esc, pbx)
    assert not pbx.done("QueueAdd") and esc.queues["support"].level == 0
    callers(pbx, 1, start=2)
    look(esc, pbx)
    [add] = pbx.done("QueueAdd")
    assert add == {"Action": "QueueAdd", "Queue": "support", "Interface": SUPER, "MemberName": "Supervisor Wu",
                   "StateInterface": "PJSIP/super501", "Penalty": "2", "Paused": "false"}
    assert actions(out) == [(1, "escalate"), (1, "add-member")]
    assert all(isinstance(r, EscalationStepRecord) and r.reason == "waiting 3 >= 3" for r in out["records"])
    [notice] = out["notices"]
    assert notice["type"] == "escalation" and notice["queue"] == "support" and notice["step"] == 1
    assert notice["direction"] == "up" and notice["actions"] == ["Supervisor Wu added"]
    assert out["standing"]["escalation-support"]["title"] == "Queue support escalated"


def test_a_swell_past_two_steps_takes_both_in_order_and_priority_holds_only_then(world):
    esc, pbx, out = world
    assert esc.priority_for("support", "13800138000", None) is None
    callers(pbx, 5)
    look(esc, pbx)
    assert [a["Interface"] for a in pbx.done("QueueAdd")] == [SUPER, SEAT]
    assert [n["step"] for n in out["notices"]] == [1, 2]
    assert esc.priority_for("support", "13800138000", None) == 10
    assert esc.priority_for("support", None, "4000") == 10
    assert esc.priority_for("support", "13900000000", "4001") is None
    assert esc.callback_offer_after("support") == 20


def test_the_longest_wait_alone_calls_for_its_step(world):
    esc, pbx, out = world
    callers(pbx, 1)
    look(esc, pbx, seconds=121)
    assert esc.queues["support"].level == 2  # one caller for 121 s: step 2's longest_wait
    assert "longest wait 121 s >= 120 s" in out["records"][-1].reason


def test_calm_undoes_the_steps_last_first_one_calm_period_each(world):
    esc, pbx, out = world
    callers(pbx, 5)
    look(esc, pbx)
    pbx.entries.clear()
    look(esc, pbx, 1)
    look(esc, pbx, 59)
    assert not pbx.done("QueueRemove"), "calm for less than calm_for"
    look(esc, pbx, 2)
    assert [a["Interface"] for a in pbx.done("QueueRemove")] == [SEAT]
    assert esc.priority_for("support", "13800138000", None) is None and esc.callback_offer_after("support") is None
    look(esc, pbx, 30)
    assert len(pbx.done("QueueRemove")) == 1, "the next step down waits a calm period of its own"
    look(esc, pbx, 31)
    assert [a["Interface"] for a in pbx.done("QueueRemove")] == [SEAT, SUPER]
    assert esc.queues["support"].level == 0
    assert [(n["step"], n["direction"]) for n in out["notices"]] == [(1, "up"), (2, "up"), (2, "down"), (1, "down")]
    assert "escalation-support" not in out["standing"]
    assert ("2", "de-escalate") not in actions(out) and (2, "de-escalate") in actions(out)


def test_a_member_on_a_call_is_never_removed_and_is_asked_again_later(world):
    esc, pbx, out = world
    callers(pbx, 3)
    look(esc, pbx)
    pbx.entries.clear()
    pbx.members[SUPER] = "2"  # the supervisor took a caller
    look(esc, pbx, 1)
    look(esc, pbx, 61)
    assert not pbx.done("QueueRemove")
    assert actions(out)[-1] == (1, "remove-deferred")
    look(esc, pbx, 5)
    assert not pbx.done("QueueRemove") and actions(out).count((1, "remove-deferred")) == 1
    pbx.members[SUPER] = "1"  # the call ended
    look(esc, pbx, 5)
    assert not pbx.done("QueueRemove"), "asked again only after retry_remove_s"
    look(esc, pbx, 10)
    assert [a["Interface"] for a in pbx.done("QueueRemove")] == [SUPER]
    assert actions(out)[-2:] == [(1, "remove-member"), (1, "de-escalate")]


def test_a_supervisor_already_in_the_queue_is_not_the_ladders_to_remove(world):
    esc, pbx, out = world
    pbx.members[SUPER] = "1"  # logged in as an agent
    callers(pbx, 3)
    look(esc, pbx)
    pbx.entries.clear()
    look(esc, pbx, 1)
    look(esc, pbx, 61)
    assert not pbx.done("QueueRemove") and esc.queues["support"].level == 0
    assert SUPER in pbx.members


def test_a_swell_while_a_step_is_leaving_keeps_it(world):
    esc, pbx, out = world
    callers(pbx, 3)
    look(esc, pbx)
    pbx.entries.clear()
    pbx.members[SUPER] = "2"
    look(esc, pbx, 1)
    look(esc, pbx, 61)  # leaving, removal deferred
    callers(pbx, 3)
    look(esc, pbx, 1)
    pbx.members[SUPER] = "1"
    look(esc, pbx, 20)
    assert not pbx.done("QueueRemove") and esc.queues["support"].level == 1
    assert not esc.queues["support"].active[-1].leaving


def test_events_between_looks_count_callers_and_the_service_level_comes_from_call_records(world):
    esc, pbx, out = world

    class Call:
        def __init__(self, outcome, wait_s):
            self.queue, self.outcome, self.wait_s, self.source, self.incomplete = "support", outcome, wait_s, "ami", False

    for uid in ("a", "b", "c"):
        esc.handle({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": uid})
    esc.handle({"Event": "QueueCallerAbandon", "Queue": "support", "Uniqueid": "a"})
    assert esc.queues["support"].figures.figures(pbx.now).waiting == 2
    for outcome, wait in (("answered", 5), ("answered", 50), ("abandoned", 30), ("answered", 10)):
        esc.on_record(Call(outcome, wait))
    figures = esc.queues["support"].figures.figures(pbx.now)
    assert figures.service_level == 0.5 and figures.calls_in_window == 4
    assert esc.queues["support"].figures.figures(pbx.now + 901).service_level is None


def test_an_unknown_queue_is_said_once_on_the_wallboard_and_never_escalated(world):
    esc, pbx, out = world

    async def nothing(action, timeout):
        return [{"Event": "QueueStatusComplete"}]

    esc.send_action = nothing
    look(esc, pbx)
    look(esc, pbx)
    assert out["standing"]["escalation-unknown-support"]["title"] == "Queue support unknown to Asterisk"
    assert esc.queues["support"].figures.known is False


def test_a_restarted_daemon_takes_back_its_steps_and_still_removes_its_supervisor(world, tmp_path):
    esc, pbx, out = world
    callers(pbx, 3)
    look(esc, pbx)
    path = tmp_path / "escalation.json"
    state.write(path, state.snapshot(esc))
    again = Escalator("pbx1", config(), pbx.send, out["records"].append, out["notices"].append,
                      out["standing"].__setitem__, lambda key: out["standing"].pop(key, None), lambda: pbx.now)
    assert state.restore(again, state.read(path)) == 1
    pbx.entries.clear()
    look(again, pbx, 1)
    look(again, pbx, 61)
    assert [a["Interface"] for a in pbx.done("QueueRemove")] == [SUPER]
    assert len(pbx.done("QueueAdd")) == 1, "not added twice"


def test_vip_callers_already_waiting_move_up_when_the_priority_step_is_taken(world):
    esc, pbx, out = world
    callers(pbx, 5)
    pbx.numbers = {"c1": "13800138000", "c3": "13800138000\r\nAction: Originate"}
    look(esc, pbx)
    [change] = pbx.done("QueueChangePriorityCaller")
    assert change == {"Action": "QueueChangePriorityCaller", "Queue": "support", "Caller": "PJSIP/trunk-c1",
                      "Priority": "10", "Immediate": "yes"}
    assert "1 waiting raised" in [r for r in out["records"] if r.action == "priority-on"][0].detail


def test_a_supervisor_lost_from_the_queue_while_the_step_holds_is_added_again(world):
    esc, pbx, out = world
    callers(pbx, 3)
    look(esc, pbx)
    del pbx.members[SUPER]  # Asterisk restarted without persistent members
    look(esc, pbx, 1)
    assert [a["Interface"] for a in pbx.done("QueueAdd")] == [SUPER, SUPER]
    assert "missing from the queue" in out["records"][-1].detail
    look(esc, pbx, 1)
    assert len(pbx.done("QueueAdd")) == 2


def test_a_refused_queue_status_is_not_taken_for_an_unknown_queue(world):
    esc, pbx, out = world

    async def refused(action, timeout):
        return Reply(Response="Error", Message="Permission denied")

    esc.send_action = refused
    look(esc, pbx)
    assert esc.queues["support"].figures.known is None and out["standing"] == {}


async def test_the_room_wires_its_task_route_health_and_the_shared_earlier_offer(tmp_path):
    import yaml

    from pbx_bridge.config import load_config
    from pbx_bridge.daemon import Daemon
    from pbx_bridge.rooms import upgrade
    from tests.support.agi_peer import AGI_SECRET

    url = f"sqlite:///{tmp_path}/store.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": url, "spool_dir": str(tmp_path / "spool")},
        "reconcile": {"enabled": False, "queue_log": None, "state_dir": str(tmp_path / "state")},
        "escalation": {"enabled": True, "state_file": str(tmp_path / "esc.json"),
                       "supervisors": {"Supervisor Wu": "super501"},
                       "queues": {"support": {"steps": [{"name": "s1", "waiting": 2, "callback_offer_after": 15}]}}},
    }))
    upgrade(url)
    built = Daemon(load_config(str(config), env={}), "s3cret")
    try:
        assert "escalation" in built.core.tasks and "escalation_priority" in built.agi.routes
        assert built.health()["escalation"] == {"support": 0}
        offer_after = built.core.shared["callbacks.offer_after"]
        assert offer_after("support") is None
        built.core.handles["escalation"].queues["support"].active.append(StepState())  # step 1 holds
        assert offer_after("support") == 15
    finally:
        await built.engine.dispose()
