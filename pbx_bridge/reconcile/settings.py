"""The `reconcile:` section: where queue_log is read from (the file, a realtime table), how often,
and where the positions read up to are kept.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import DatabaseUrl, Strict, url_passwords

QUEUE_LOG_URL_ENV = "PBX_BRIDGE_QUEUE_LOG_URL"  # the realtime table's URL (its password) from the environment


class RealtimeQueueLogConfig(Strict):
    url: DatabaseUrl = Field(description="Asterisk's realtime database, e.g. mysql+aiomysql://asterisk@127.0.0.1/asterisk")
    table: str = Field(default="queue_log", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    utc_times: bool = Field(default=False, description="logger.conf queue_log_realtime_use_gmtime = yes")


class ReconcileConfig(Strict):
    enabled: bool
    queue_log: Path | None = Field(description="Asterisk's queue_log file; null: none (realtime table only)")
    state_dir: Path = Field(description="where the positions read up to are kept")
    interval: float = Field(gt=0, le=3600)
    realtime: RealtimeQueueLogConfig | None = None

    @staticmethod
    def from_environment(values: dict, env: dict[str, str]) -> dict:
        """The section as the site wrote it, with what the environment supplies (config.load_config)."""
        realtime = values.get("realtime")
        if env.get(QUEUE_LOG_URL_ENV) and isinstance(realtime, dict):
            return {**values, "realtime": {**realtime, "url": env[QUEUE_LOG_URL_ENV]}}
        return values

    def secrets(self, env: dict[str, str]) -> list[str]:
        """What logs must mask (config.secrets_of): the realtime database's password."""
        return url_passwords(self.realtime.url) if self.realtime is not None else []


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"reconcile": ReconcileConfig}
