"""The nuisance room: numbers screened before they reach an agent, and the warning an agent hears
(the screening file is the admins'; SIGHUP reads it again). Names agents by `core.outbound`'s phones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.nuisance import routes
from pbx_bridge.nuisance.desk import NuisanceDesk
from pbx_bridge.nuisance import model
from pbx_bridge.store.registry import RecordKinds

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> NuisanceDesk:
    cfg = core.cfg
    desk = NuisanceDesk(cfg.nuisance, cfg.pbx, cfg.tz, core.engine, core.writer.put, name_of=core.outbound.phones.get)
    desk.load_file()  # a broken screening file at start: ScreeningFileError, exit 2
    core.add_route("screen", routes.screen(desk))
    core.add_route("nuisance_warn", routes.nuisance_warn(desk))
    core.add_task("nuisance", desk.run)
    core.add_health("nuisance", desk.health)
    core.on_reload(desk.reload_file)
    return desk


def register_records(kinds: RecordKinds) -> None:
    model.register_records(kinds)
