"""After AMI comes back: the queues made to match the agent sessions (rules §8), each repair told."""

from __future__ import annotations

from types import SimpleNamespace

from pbx_bridge.agents.recovery import differences, queue_members, recover
from pbx_bridge.agents.sessions import AgentSessions
from pbx_bridge.agents.settings import AgentsConfig

IFACE = "Local/agent301@pbx-bridge-agents/n"


class QueueAmi:
    """Answers QueueStatus from `members` ((queue, interface) -> paused) and applies QueueAdd/QueuePause."""

    def __init__(self, members=None, refuse_first=0):
        self.members: dict[tuple[str, str], str] = dict(members or {})
        self.sent: list[dict] = []
        self.refuse = refuse_first

    async def send(self, fields, timeout):
        self.sent.append(dict(fields))
        action = fields["Action"]
        if action == "QueueStatus":
            return [{"Event": "QueueMember", "Queue": q, "Location": i, "Paused": p}
                    for (q, i), p in self.members.items()] + [{"Event": "QueueStatusComplete"}]
        if self.refuse:
            self.refuse -= 1
            return SimpleNamespace(success=False, get=lambda k, d=None: "Unable to add interface: No such queue")
        if action == "QueueAdd":
            self.members[(fields["Queue"], fields["Interface"])] = "1" if fields["Paused"] == "true" else "0"
        elif action == "QueuePause":
            self.members[(fields["Queue"], fields["Interface"])] = "1" if fields["Paused"] == "true" else "0"
        return SimpleNamespace(success=True, get=lambda k, d=None: d)


async def logged_in(ami, queues=("sales", "support"), paused_reason=None):
    agents = AgentSessions("pbx1", AgentsConfig(enabled=True), ami.send, lambda record: None)
    await agents.login("0301", "彭建华", "agent301", queues)
    if paused_reason:
        for queue in queues:
            agents.handle({"Event": "QueueMemberPause", "Interface": IFACE, "Queue": queue, "Paused": "1",
                           "PausedReason": paused_reason})
    ami.sent.clear()
    return agents


async def test_members_lost_in_a_restart_without_persistent_members_are_added_again_and_told():
    ami = QueueAmi()
    agents = await logged_in(ami)
    ami.members.clear()  # Asterisk restarted with persistentmembers = no
    told = []
    done = await recover(agents, ami.send, told.append, gap_s=30.0, delay_s=0)
    assert [(a["Action"], a["Queue"], a["Paused"]) for a in ami.sent if a["Action"] != "QueueStatus"] == [
        ("QueueAdd", "sales", "false"), ("QueueAdd", "support", "false")]
    assert ami.members == {("sales", IFACE): "0", ("support", IFACE): "0"}
    assert [(n["type"], n["action"], n["kind"], n["queue"]) for n in told] == [
        ("recovery", "QueueAdd", "member-missing", "sales"), ("recovery", "QueueAdd", "member-missing", "support")]
    assert done == told


async def test_a_paused_agent_comes_back_paused_with_the_same_reason():
    ami = QueueAmi()
    agents = await logged_in(ami, queues=("support",), paused_reason="meal")
    ami.members.clear()
    told = []
    await recover(agents, ami.send, told.append, gap_s=30.0, delay_s=0)
    repairs = [a for a in ami.sent if a["Action"] != "QueueStatus"]
    assert [(a["Action"], a["Paused"]) for a in repairs] == [("QueueAdd", "true"), ("QueuePause", "true")]
    assert repairs[1]["Reason"] == "meal" and ami.members[("support", IFACE)] == "1"
    assert told[0]["action"] == "QueueAdd+QueuePause"


async def test_a_pause_the_queue_lost_is_set_again_and_a_kept_member_is_left_alone():
    ami = QueueAmi()
    agents = await logged_in(ami, queues=("support",), paused_reason="break")
    ami.members[("support", IFACE)] = "0"  # still a member, the pause forgotten
    told = []
    await recover(agents, ami.send, told.append, gap_s=5.0, delay_s=0)
    assert [(a["Action"], a.get("Reason")) for a in ami.sent if a["Action"] != "QueueStatus"] == [
        ("QueuePause", "break")]
    assert told[0]["kind"] == "pause-lost"


async def test_nothing_is_sent_when_the_queues_match_the_sessions():
    ami = QueueAmi()
    agents = await logged_in(ami)
    told = []
    assert await recover(agents, ami.send, told.append, gap_s=1.0, delay_s=0) == []
    assert [a["Action"] for a in ami.sent] == ["QueueStatus"] and told == []


async def test_a_pause_only_the_queue_knows_is_told_not_undone():
    ami = QueueAmi()
    agents = await logged_in(ami, queues=("support",))
    ami.members[("support", IFACE)] = "1"
    told = []
    await recover(agents, ami.send, told.append, gap_s=1.0, delay_s=0)
    assert [a["Action"] for a in ami.sent] == ["QueueStatus"]
    assert told[0]["kind"] == "pause-unknown" and told[0]["action"] == "none"


async def test_a_queue_not_loaded_yet_is_tried_again():
    ami = QueueAmi()
    agents = await logged_in(ami, queues=("support",))
    ami.members.clear()
    ami.refuse = 1  # the first QueueAdd comes before app_queue has loaded its queues
    told = []
    await recover(agents, ami.send, told.append, gap_s=30.0, delay_s=0)
    assert ami.members == {("support", IFACE): "0"} and len(told) == 1


def test_queue_status_members_are_read_by_interface_or_location():
    members = queue_members([{"Event": "QueueMember", "Queue": "q", "Interface": "A"},
                             {"Event": "QueueMember", "Queue": "q", "Location": "B"}, {"Event": "QueueEntry"}])
    assert set(members) == {("q", "A"), ("q", "B")}
    assert differences(AgentSessions("p", AgentsConfig(enabled=True), None, None), members) == []
