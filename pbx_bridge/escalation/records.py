"""What an escalation leaves behind: each action of each step, with the figures that caused it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbx_bridge.escalation.tables import escalation_steps
from pbx_bridge.store.registry import RecordKinds

ACTIONS = ("escalate", "add-member", "add-failed", "priority-on", "callback-early",
           "de-escalate", "remove-member", "remove-deferred", "remove-failed", "priority-off", "callback-normal")


@dataclass
class EscalationStepRecord:
    pbx: str
    action_id: str
    queue: str
    step: int
    step_name: str
    action: str
    at: datetime
    detail: str = ""
    reason: str = ""


def register_records(kinds: RecordKinds) -> None:
    kinds.register(EscalationStepRecord, escalation_steps)
