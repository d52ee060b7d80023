"""What the voicemail duty leaves in the store: listenings, messages handled, callbacks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.voicemail.tables import vm_callbacks, vm_listenings, vm_messages


@dataclass
class ListeningRecord:
    """One scheduled listening of one company: who took it, or that nobody did."""

    listening_id: str  # company/YYYY-MM-DDTHH:MM (local), stable across restarts
    pbx: str
    company: str
    scheduled_at: datetime
    status: str  # pending | taken | missed | no-messages
    agent: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    messages_played: int = 0

    def as_row(self) -> dict:
        return asdict(self)


@dataclass
class VoicemailMessageRecord:
    msg_id: str
    pbx: str
    company: str
    mailbox: str
    caller_num: str
    caller_name: str
    left_at: datetime
    status: str = "new"  # new | handled | called-back
    first_callback_at: datetime | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None


@dataclass
class CallbackRecord:
    callback_id: str  # msg_id/epoch-ms of the attempt
    pbx: str
    msg_id: str
    company: str
    agent: str | None
    number: str
    started_at: datetime
    dial_status: str
    answered: bool


def register_records(kinds: RecordKinds) -> None:
    kinds.register(ListeningRecord, vm_listenings)
    kinds.register(VoicemailMessageRecord, vm_messages)
    kinds.register(CallbackRecord, vm_callbacks)
