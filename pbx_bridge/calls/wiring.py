"""The outbound-calls room: the calls the agents' own phones place (rules §4), and the phone book
(endpoint -> agent) that the rota, the nuisance desk and these records share through `core.outbound`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.calls.outbound import OUTBOUND_EVENTS, OutboundTracker
from pbx_bridge.calls import outbound
from pbx_bridge.calls import records as call_records
from pbx_bridge.store.registry import RecordKinds

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> OutboundTracker:
    outbound = core.outbound = OutboundTracker(core.cfg.pbx, core.writer.put)
    core.subscribe(OUTBOUND_EVENTS, outbound.handle)
    return outbound


def register_records(kinds: RecordKinds) -> None:
    """The call tracker's records (calls, offers) and the agents' outbound calls."""
    call_records.register_records(kinds)
    outbound.register_records(kinds)
