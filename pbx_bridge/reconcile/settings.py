"""The `reconcile:` section: where queue_log is read from (the file, a realtime table), how often,
and where the positions read up to are kept.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import DatabaseUrl, Strict


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
