"""The escalation room (rules §3): a ladder per queue, watched from the AMI events and QueueStatus,
judged on the call records' service level; each step an alert, a standing wallboard line, a record.

The incidents room (built apart) hears each step as a notice of type "escalation" through
`core.live`; this room imports no other room. The earlier callback offer is shared as
`core.shared["callbacks.offer_after"]` (queue -> seconds or None), which the callbacks room reads.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from pbx_bridge.escalation import state
from pbx_bridge.escalation.ladder import Escalator
from pbx_bridge.escalation.records import register_records  # noqa: F401 - gathered by rooms.record_kinds
from pbx_bridge.escalation.routes import escalation_priority

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)

EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon")


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True  # the inbound context always asks escalation_priority: the route is always served


async def _no_priority(session) -> None:  # noqa: ANN001 - an AgiSession
    """Escalation off: every caller joins with the queue's normal priority."""


def wire(core: Core) -> Escalator | None:
    cfg = core.cfg.escalation
    if not cfg.enabled or not cfg.queues:
        core.add_route("escalation_priority", _no_priority)
        return None
    live = core.live
    escalator = Escalator(core.cfg.pbx, cfg, core.send_action, core.record, live.on_notice, live.stand, live.clear,
                          time.monotonic, ready=lambda: core.ami.logged_in)
    try:
        state.restore(escalator, state.read(cfg.state_file))
    except (OSError, ValueError) as exc:
        log.warning("escalation_state_unreadable", path=str(cfg.state_file), error=repr(exc)[:200])
    for queue, ladder in escalator.queues.items():
        if ladder.level:  # the wallboard line comes back with the step
            escalator.stand(f"escalation-{queue}", {
                "type": "escalation", "title": f"Queue {queue} escalated",
                "text": f"step {ladder.level}/{len(ladder.ladder.steps)} {ladder.step(ladder.level).name}: "
                        f"{ladder.reason}", "severity": "warning", "queue": queue, "step": ladder.level,
                "step_name": ladder.step(ladder.level).name})
    core.subscribe(EVENTS, escalator.handle)
    core.on_record(escalator.on_record)
    core.add_route("escalation_priority", escalation_priority(escalator))
    core.shared["callbacks.offer_after"] = escalator.callback_offer_after  # read by the callbacks room

    def save() -> None:
        try:
            state.write(cfg.state_file, state.snapshot(escalator))
        except OSError as exc:
            log.error("escalation_state_write_failed", path=str(cfg.state_file), error=repr(exc)[:200])

    core.add_task("escalation", lambda: escalator.run(save))
    core.add_health("escalation", lambda: {q: ladder.level for q, ladder in escalator.queues.items()})
    return escalator
