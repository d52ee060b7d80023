"""The rollups room: per (pbx, local day, half-hour, queue, agent) sums of the calls and offers,
kept in the store writer's transaction so the reports do not grow with the month (keeper.py).

Always on: a store whose rollups fall behind would silently give the reports other figures (they
read the rollups only while `rollup_state` matches their own settings, else the raw rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.ring import two_rings_s, within_two_rings_limit_s
from pbx_bridge.rollups.keeper import RollupKeeper
from pbx_bridge.rollups.sums import Basis

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def basis(cfg) -> Basis:  # noqa: ANN001 - a Config
    """What the sums are built with: the site's time zone, the reports' timely threshold, the ring
    settings' two-rings limit (read from the assembled configuration, not from their rooms)."""
    return Basis(cfg.tz, float(cfg.reports.timely_threshold_s), within_two_rings_limit_s(two_rings_s(cfg.ring)))


def wire(core: Core) -> RollupKeeper:
    keeper = RollupKeeper(basis(core.cfg))
    core.writer.add_batch_hook(keeper.hook)
    core.add_health("rollups", keeper.health)
    return keeper
