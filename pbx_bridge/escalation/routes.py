"""agi://127.0.0.1:4573/escalation_priority: QUEUE_PRIO for a chosen line (DID) or caller (VIP list).

Run from [pbx-bridge-inbound] just before Queue(). Only while a step with `priority` holds in the
caller's queue, and only for the numbers the step names: everyone else joins with the queue's
normal priority. The numbers are compared as validated PhoneNumbers; the one value written back is
an int. Daemon down (AGISTATUS=FAILURE): QUEUE_PRIO stays unset and the call flows as usual.
"""

from __future__ import annotations

import structlog

from pbx_bridge.agi.quoting import agi_command
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.escalation.ladder import Escalator
from pbx_bridge.numbers import DialplanName, phone_number_or_none

log = structlog.get_logger(__name__)


def escalation_priority(escalator: Escalator) -> Route:
    async def route(session: AgiSession) -> None:
        queue = session.args[0] if session.args else ""
        caller = phone_number_or_none(session.headers.get("agi_callerid"), source="escalation_priority")
        did = phone_number_or_none(session.headers.get("agi_dnid"), source=None)
        level = escalator.priority_for(queue, caller, did)
        if level is None:
            return
        await session.command(agi_command("SET VARIABLE", DialplanName("QUEUE_PRIO"), level))
        log.info("escalation_priority_raised", queue=queue, number=caller, did=did, priority=level)

    return route
