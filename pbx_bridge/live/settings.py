"""The live-state sections: `mqtt:` (the broker, the topics, the figures LiveState is held to) and
`wallboard:` (the page server). One room for both, since the wallboard shows what MQTT publishes.
"""

from __future__ import annotations

from pydantic import Field

from pbx_bridge.settings import Strict


MQTT_PASSWORD_ENV = "PBX_BRIDGE_MQTT_PASSWORD"  # the broker password comes from the environment only

class MqttConfig(Strict):
    enabled: bool
    host: str
    port: int = Field(ge=1, le=65535)
    username: str | None = None
    topic_prefix: str = Field(pattern=r"^[^+#]+$")
    publish_interval: float = Field(gt=0, le=60)
    keepalive: float = Field(ge=5, le=600)
    reconnect_min: float = Field(gt=0)
    reconnect_max: float = Field(gt=0)
    service_level_s: float = Field(gt=0)
    long_wait_s: float = Field(gt=0)
    repeat_caller_count: int = Field(ge=2)

    def secrets(self, env: dict[str, str]) -> list[str]:
        """What logs must mask (config.secrets_of): the broker password, from the environment only."""
        return [env[MQTT_PASSWORD_ENV]] if env.get(MQTT_PASSWORD_ENV) else []


class WallboardConfig(Strict):
    enabled: bool
    host: str
    port: int = Field(ge=0, le=65535)
    broker: str = Field(description="the broker's websockets URL as the supervisors' browsers reach it")
    max_connections: int = Field(ge=1, le=10_000, description="open at once; more are closed at once")
    idle_timeout: float = Field(gt=0, le=300, description="seconds to send the request, and again to take the answer")


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"mqtt": MqttConfig, "wallboard": WallboardConfig}
