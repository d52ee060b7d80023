"""The record types every feature hands the store writer, gathered in one place above the features.

Each feature registers its own records next to their types (`register_records` in its records
module); this is only the list of features whose records the daemon writes. Adding a feature that
writes records through the writer adds one line here. (Until the features plug in through the
core themselves, when each one's entry will register its records and this list goes.)
"""

from __future__ import annotations

from pbx_bridge.agents import records as agent_records
from pbx_bridge.calls import outbound as outbound_records
from pbx_bridge.calls import records as call_records
from pbx_bridge.incidents import records as incident_records
from pbx_bridge.nuisance import model as nuisance_records
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.voicemail import records as voicemail_records

FEATURES = (call_records, outbound_records, voicemail_records, agent_records, nuisance_records,
            incident_records)


def record_kinds() -> RecordKinds:
    """A registry holding every feature's record types (a fresh one per call: nothing global)."""
    kinds = RecordKinds()
    for feature in FEATURES:
        feature.register_records(kinds)
    return kinds
