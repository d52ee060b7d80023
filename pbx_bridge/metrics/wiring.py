"""The metrics room: `/metrics` for Prometheus on the daemon's web listener (docs/metrics.md).

It reads what the components already count (`core.healths`, at each scrape) and adds one live
figure: each event→row latency the store writer measures (store/latency.py observers). Listed
last in room_list.ROOMS; it reads the health functions at scrape time, so the order only matters
for readability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from pbx_bridge import __version__
from pbx_bridge.metrics.page import MetricsPage
from pbx_bridge.settings import SettingsConflict

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)


class MetricsNotServed(SettingsConflict):
    """metrics.enabled without the web listener: the admin asked for a page nobody would serve."""


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.metrics.enabled


def wire(core: Core) -> MetricsPage:
    cfg = core.cfg
    if not cfg.wallboard.enabled:
        raise MetricsNotServed("metrics.enabled needs wallboard.enabled: the metrics page is served by the "
                               "daemon's web listener (wallboard.host, wallboard.port)")
    page = MetricsPage(core.healths, cfg.pbx, __version__)
    core.writer.latency.observers.append(page.observe_latency)
    core.add_page(cfg.metrics.path, page.handle)
    log.info("metrics_page", path=cfg.metrics.path, host=cfg.wallboard.host, port=cfg.wallboard.port)
    return page
