"""Which table each kind of record goes to: one list for the writer and the spool, so a new record
type cannot reach the database yet be refused by the spool during an outage."""

from __future__ import annotations

from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord
from pbx_bridge.calls.outbound import OutboundRecord
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.nuisance.model import ScreenedCallRecord, WarningRecord
from pbx_bridge.store.schema import (
    agent_pauses,
    agent_sessions,
    calls,
    nuisance_screened_calls,
    nuisance_warnings,
    offers,
    outbound_calls,
    vm_callbacks,
    vm_listenings,
    vm_messages,
)
from pbx_bridge.voicemail.records import CallbackRecord, ListeningRecord, VoicemailMessageRecord

TABLE_OF = {CallRecord: calls, OfferRecord: offers, ListeningRecord: vm_listenings,
            VoicemailMessageRecord: vm_messages, CallbackRecord: vm_callbacks, OutboundRecord: outbound_calls,
            AgentSessionRecord: agent_sessions, AgentPauseRecord: agent_pauses,
            WarningRecord: nuisance_warnings, ScreenedCallRecord: nuisance_screened_calls}

KINDS: dict[str, type] = {table.name: kind for kind, table in TABLE_OF.items()}
