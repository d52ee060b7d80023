"""The outbound-calls room: the calls the agents' own phones place (rules §4), and the phone book
(endpoint -> agent) that the rota, the nuisance desk and these records share through `core.outbound`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.calls.outbound import OUTBOUND_EVENTS, OutboundTracker

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> OutboundTracker:
    outbound = core.outbound = OutboundTracker(core.cfg.pbx, core.writer.put)
    core.subscribe(OUTBOUND_EVENTS, outbound.handle)
    return outbound
