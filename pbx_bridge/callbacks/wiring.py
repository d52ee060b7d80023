"""The callbacks room: a caller who presses 1 is called back (rules §3). The route is always served:
with callbacks disabled, a 1 puts the caller back in the queue; the placer runs only when enabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.callbacks.placer import EVENTS, CallbackPlacer
from pbx_bridge.callbacks.routes import callback_request
from pbx_bridge.ring import two_rings_s

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> CallbackPlacer | None:
    cfg = core.cfg
    core.add_route("callback_request", callback_request(cfg.callbacks, cfg.pbx, core.engine, core.tracker.joined_ts))
    if not cfg.callbacks.enabled:
        return None
    placer = CallbackPlacer(
        cfg.callbacks, cfg.pbx, core.engine, core.send_action, core.record, cfg.ring, two_rings_s(cfg.ring),
        lambda: core.ami.sessions if core.ami.logged_in else 0,
        core.tracker.numbers_in_queue)
    core.subscribe(EVENTS, placer.handle)
    core.on_record(placer.on_record)
    core.add_task("callbacks", placer.run)
    core.add_health("callbacks", placer.health)
    return placer
