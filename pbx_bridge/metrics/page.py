"""The `/metrics` page: a private registry rendered in Prometheus's text format at each scrape.

A private `CollectorRegistry`, not the library's global one: nothing another import registers
there reaches this page, and tests build as many as they like. Rendering is synchronous on the
loop; it reads the health dicts (a few dict lookups each) and the process's /proc entries, well
under a millisecond for the ~40 series, so it needs no thread.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, ProcessCollector, generate_latest

from pbx_bridge.metrics.collector import PREFIX, HealthCollector, Healths
from pbx_bridge.pages import Request, Response

# event→row latency, s: a healthy store answers within a batch interval (tens of ms); the alert
# rule's line is 1 s; beyond 10 s the spool is usually involved
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsPage:
    def __init__(self, healths: Healths, pbx: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = HealthCollector(healths, pbx, version)
        self.registry.register(self.collector)
        self.latency = Histogram(f"{PREFIX}_store_event_to_row_seconds", "From the AMI event that finished a call "
                                 "(its Timestamp) to the commit of the batch holding its row; records that went "
                                 "through the spool are not counted.", buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        ProcessCollector(registry=self.registry)

    @property
    def observe_latency(self) -> Callable[[float], None]:
        return self.latency.observe

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def handle(self, request: Request) -> Response:
        return Response(200, self.render(), CONTENT_TYPE_LATEST)
