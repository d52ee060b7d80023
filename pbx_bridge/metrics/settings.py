"""The `metrics:` section: whether `/metrics` is served on the daemon's web listener, and where."""

from __future__ import annotations

from pydantic import Field

from pbx_bridge.settings import Strict


class MetricsConfig(Strict):
    enabled: bool = Field(description="serve the metrics page; needs wallboard.enabled (the web listener)")
    path: str = Field(pattern=r"^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", description="the page's path")


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"metrics": MetricsConfig}
