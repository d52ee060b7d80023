"""Calls the agents' own phones place are counted; the queue ringing an agent is not one."""

from pbx_bridge.calls.outbound import OutboundTracker, endpoint_of

MEMBER = {"Event": "QueueMemberAdded", "Queue": "support", "MemberName": "Agent 301",
          "Interface": "Local/agent301@pbx-bridge-agents/n", "StateInterface": "PJSIP/agent301"}


def test_a_dial_from_an_agents_phone_is_an_outbound_call():
    out = []
    tracker = OutboundTracker("pbx1", out.append)
    tracker.handle(MEMBER)
    tracker.handle({"Event": "DialBegin", "Channel": "PJSIP/agent301-0000000a", "Exten": "913900000001",
                    "DestUniqueid": "9.1", "Timestamp": "1795460000.5"})
    tracker.handle({"Event": "DialEnd", "Channel": "PJSIP/agent301-0000000a", "DestUniqueid": "9.1",
                    "DialStatus": "ANSWER"})
    (record,) = out
    assert (record.agent, record.endpoint, record.number, record.answered) == (
        "Agent 301", "PJSIP/agent301", "913900000001", True)


def test_the_queue_ringing_an_agent_is_not_an_outbound_call():
    out = []
    tracker = OutboundTracker("pbx1", out.append)
    tracker.handle(MEMBER)
    tracker.handle({"Event": "DialBegin", "Channel": "Local/s@pbx-bridge-inbound-00000001;2",
                    "DestChannel": "PJSIP/agent301-0000000b", "DestUniqueid": "9.2"})
    tracker.handle({"Event": "DialEnd", "DestUniqueid": "9.2", "DialStatus": "ANSWER"})
    assert out == []


def test_endpoint_of_a_channel_name():
    assert endpoint_of("PJSIP/agent301-0000000a") == "PJSIP/agent301"
    assert endpoint_of("PJSIP/agent-x") == "PJSIP/agent-x"
