"""The live-state room: queues and agents as they are now, published on MQTT and shown on the wallboard.

Always on (the ring-twice rule tells the wallboard through `core.live`); MQTT and the wallboard's
own page server each follow their section's `enabled`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
from types import SimpleNamespace

import structlog

from pbx_bridge.ami.client import AmiClient, AmiError
from pbx_bridge.live.settings import MQTT_PASSWORD_ENV
from pbx_bridge.live.state import LIVE_EVENTS, LiveState

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> SimpleNamespace:
    cfg = core.cfg
    live = core.live = LiveState(cfg.tz, cfg.mqtt.service_level_s, cfg.mqtt.long_wait_s, cfg.mqtt.repeat_caller_count)
    core.subscribe(LIVE_EVENTS, live.handle)
    core.on_record(live.on_record)

    async def seed(ami: AmiClient, gap_s: float | None) -> None:
        """Members and their pauses as they are now (events only tell of changes)."""
        try:
            listing = await ami.send_action({"Action": "QueueStatus"}, timeout=10)
        except (TimeoutError, ConnectionError, AmiError) as exc:
            log.warning("queue_status_failed", error=repr(exc))
            return
        messages = listing if isinstance(listing, list) else []
        for message in messages:
            if message.get("Event") == "QueueMember":
                ami.bus.dispatch(message)  # to every QueueMember subscriber: this state, the agents' phones
        live.resync_members([m for m in messages if m.get("Event") == "QueueMember"])
        live.resync_waiting([m for m in messages if m.get("Event") == "QueueEntry"])
        live.mark_all_dirty()

    core.on_connected(seed)
    mqtt = wallboard = None
    if cfg.mqtt.enabled:
        from pbx_bridge.live.mqtt import MqttPublisher

        mqtt = MqttPublisher(cfg.mqtt, cfg.pbx, live, os.environ.get(MQTT_PASSWORD_ENV) or None)
        core.add_task("mqtt", mqtt.run)
        core.add_health("mqtt", mqtt.health)
    if cfg.wallboard.enabled:
        from pbx_bridge.live.wallboard_server import WallboardServer

        wallboard = WallboardServer(cfg.wallboard.host, cfg.wallboard.port, {
            "broker": cfg.wallboard.broker, "prefix": f"{cfg.mqtt.topic_prefix}/{cfg.pbx}",
            "sl_target": cfg.reports.targets.timely_rate, "abandon_target": cfg.reports.targets.abandon_rate},
            max_connections=cfg.wallboard.max_connections, idle_timeout=cfg.wallboard.idle_timeout,
            pages=core.pages)
        core.add_listener(wallboard)
        core.add_task("wallboard", wallboard.run)
        core.add_health("wallboard", wallboard.health)
    return SimpleNamespace(state=live, mqtt=mqtt, wallboard=wallboard)
