"""Live state to MQTT (aiomqtt 2): retained JSON per queue and per agent, an alerts stream, and a
daemon status topic with a last will.

The broker is never on the ingestion path: events update LiveState synchronously; this task wakes
once a second, publishes what changed, and when the broker is gone it only reconnects (backoff with
jitter). On return it publishes the whole state again, retained, so a wallboard that connects at
any moment sees everything at once. Alerts raised while the broker was away are kept (bounded)
and sent on return.

The daemon stops by cancelling this task (SIGTERM, or another task's failure): it then says
"offline" on the status topic, retained, before it disconnects. A clean disconnect discards the
broker's last will, so without that message a wallboard would go on showing the PBX as live.

Topics (prefix `pbx-bridge/<pbx>`):
  status           {"state": "online"|"offline", "since": ...}      retained, last will = offline
  queue/<queue>    LiveState.queue_snapshot                          retained
  agent/<member>   LiveState.agent_snapshot                          retained
  alerts           {"type": "long-wait"|"repeat-caller"|"ring-twice-pause", ...}   QoS 1, not retained
  standing/<key>   LiveState.stand: a notice shown until cleared (open threat, incident, escalation)
                   retained; an empty retained payload clears it
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from datetime import datetime, timezone

import aiomqtt
import structlog

from pbx_bridge.backoff import Backoff, raise_if_cancelled
from pbx_bridge.live.state import LiveState

log = structlog.get_logger(__name__)

MAX_PENDING_ALERTS = 1000
OFFLINE_TIMEOUT_S = 2.0  # a broker that is gone must not hold the daemon's stop


def _topic_part(text: str) -> str:
    """MQTT topic levels may not contain wildcards or separators."""
    return "".join("_" if c in "+#/" else c for c in text) or "_"


class MqttPublisher:
    def __init__(self, cfg, pbx: str, state: LiveState, password: str | None = None) -> None:
        self.cfg, self.state, self.password = cfg, state, password
        self.prefix = f"{cfg.topic_prefix}/{_topic_part(pbx)}"
        self.backoff = Backoff(cfg.reconnect_min, cfg.reconnect_max)
        self.pending_alerts: deque[dict] = deque(maxlen=MAX_PENDING_ALERTS)
        self.connected = False
        self.published = 0
        self.sessions = 0

    def health(self) -> dict:
        return {"connected": self.connected, "published": self.published, "sessions": self.sessions,
                "pending_alerts": len(self.pending_alerts)}

    async def run(self) -> None:
        """Publishes until cancelled; reconnects after every broker failure."""
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("mqtt_disconnected", error=str(exc)[:200])
                else:
                    log.warning("mqtt_connect_failed", host=self.cfg.host, port=self.cfg.port, error=str(exc)[:200])
            finally:
                self.connected = False
            raise_if_cancelled()
            await asyncio.sleep(self.backoff.next_delay())

    async def _session(self) -> None:
        will = aiomqtt.Will(f"{self.prefix}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        async with aiomqtt.Client(self.cfg.host, self.cfg.port, username=self.cfg.username, password=self.password,
                                  identifier=f"pbx-bridge-{self.prefix.replace('/', '-')}", will=will,
                                  keepalive=int(self.cfg.keepalive), timeout=10) as client:
            self.connected = True
            self.sessions += 1
            self.backoff.reset()
            log.info("mqtt_connected", host=self.cfg.host, port=self.cfg.port)
            lost = asyncio.create_task(self._until_lost(client), name="mqtt-lost")
            try:
                await self._publish(client, "status", {"state": "online", "since": _now()}, retain=True)
                self.state.mark_all_dirty()
                while True:
                    raise_if_cancelled()
                    self.state.tick()
                    await self._flush(client)
                    done, _ = await asyncio.wait({lost}, timeout=self.cfg.publish_interval)
                    if done:
                        lost.result()  # the MqttError of the lost connection
            except asyncio.CancelledError:
                await self._say_offline(client)
                raise
            finally:
                lost.cancel()
                await asyncio.wait({lost})
                if not lost.cancelled():
                    lost.exception()  # seen: the error raised is the session's own (a publish's, or this one)

    @staticmethod
    async def _until_lost(client: aiomqtt.Client) -> None:
        """Raises MqttError as soon as the connection is lost. A quiet PBX publishes nothing for
        minutes, and only a failed publish told of a broker gone: `connected` (and so the mqtt
        incident) stayed true all the while, and the reconnect waited for the next change."""
        async for _ in client.messages:  # nothing is subscribed: only the loss ends this
            pass

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        try:
            async with asyncio.timeout(OFFLINE_TIMEOUT_S):
                await self._publish(client, "status", {"state": "offline", "since": _now()}, retain=True)
        except (TimeoutError, aiomqtt.MqttError) as exc:
            log.warning("mqtt_offline_not_published", error=repr(exc)[:200])
        else:
            log.info("mqtt_offline_published")

    async def _flush(self, client: aiomqtt.Client) -> None:
        self.pending_alerts.extend(self.state.take_alerts())
        queues, agents = self.state.take_dirty()
        standing = self.state.take_dirty_standing()
        try:
            for queue in sorted(q for q in queues if q):
                await self._publish(client, f"queue/{_topic_part(queue)}", self.state.queue_snapshot(queue), retain=True)
            for interface in sorted(agents):
                if interface in self.state.agents:
                    snapshot = self.state.agent_snapshot(interface)
                    await self._publish(client, f"agent/{_topic_part(snapshot['agent'])}", snapshot, retain=True)
            for key in sorted(standing):
                notice = self.state.standing_notice(key)
                topic = f"{self.prefix}/standing/{_topic_part(key)}"
                # retained either way: a board that connects later sees what stands, and no longer sees what was cleared
                await client.publish(topic, json.dumps(notice, ensure_ascii=False) if notice else b"", qos=1, retain=True)
                self.published += 1
            while self.pending_alerts:
                await self._publish(client, "alerts", self.pending_alerts[0], retain=False)
                self.pending_alerts.popleft()
        except aiomqtt.MqttError:
            self.state.put_back_dirty(queues, agents, standing)  # not sent: again after the reconnect
            raise

    async def _publish(self, client: aiomqtt.Client, topic: str, payload: dict, retain: bool) -> None:
        await client.publish(f"{self.prefix}/{topic}", json.dumps(payload, ensure_ascii=False), qos=1, retain=retain)
        self.published += 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
