"""The rota, shared by the voicemail-duty and agents rooms: the list of agents, their phones and
PINs, and the one PIN gate of every PIN menu (*81, *86). Loaded once, when either room is enabled;
they reach it as `core.rota` and `core.pins`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.pins import PinGate
from pbx_bridge.rota.holder import RotaHolder

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.voicemail.enabled or cfg.agents.enabled or cfg.qa.enabled


def wire(core: Core) -> RotaHolder:
    rota = core.rota = RotaHolder(str(core.cfg.voicemail.rota))
    rota.load()  # a broken rota at start is a config error: RotaError, exit 2
    for agent in (a for company in rota.current.companies for a in company.agents):
        core.outbound.know_phone(agent.endpoint, agent.name)
    core.pins = PinGate.from_settings(core.cfg.agents)  # one lock-out for every PIN menu (*81, *86)
    core.add_health("pins", core.pins.health)
    core.add_task("rota-watch", rota.watch)
    core.on_reload(rota.reload)
    return rota
