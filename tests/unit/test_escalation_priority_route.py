"""escalation_priority: QUEUE_PRIO for the chosen lines and callers, only while their step holds."""

import asyncio

from pbx_bridge.escalation.ladder import Escalator
from pbx_bridge.escalation.routes import escalation_priority
from tests.unit.test_escalation_ladder import Pbx, config


class Session:
    def __init__(self, callerid, dnid, queue="support"):
        self.headers = {"agi_callerid": callerid, "agi_dnid": dnid, "agi_arg_1": queue}
        self.args = [queue]
        self.commands = []

    async def command(self, line):
        self.commands.append(line)


def escalator(pbx):
    return Escalator("pbx1", config(), pbx.send, lambda r: None, lambda n: None, lambda k, v: None, lambda k: None,
                     lambda: pbx.now)


def ask(esc, *args, **kw):
    session = Session(*args, **kw)
    asyncio.run(escalation_priority(esc)(session))
    return session.commands


def test_a_vip_caller_or_chosen_line_jumps_the_queue_only_while_the_priority_step_holds():
    pbx = Pbx()
    esc = escalator(pbx)
    assert ask(esc, "13800138000", "4001") == []
    pbx.entries = {f"c{i}": pbx.now for i in range(5)}
    asyncio.run(esc.run_once())
    assert ask(esc, "13800138000", "4001") == ["SET VARIABLE QUEUE_PRIO 10"]
    assert ask(esc, "+8613911112222", "4000") == ["SET VARIABLE QUEUE_PRIO 10"]
    assert ask(esc, "13911112222", "4001") == []
    assert ask(esc, "13800138000", "4001", queue="sales") == []


def test_a_hostile_caller_id_sets_nothing():
    pbx = Pbx()
    esc = escalator(pbx)
    pbx.entries = {f"c{i}": pbx.now for i in range(5)}
    asyncio.run(esc.run_once())
    assert ask(esc, "13800138000\nEXEC Dial", "4000;x") == []
