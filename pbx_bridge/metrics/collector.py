"""The daemon's figures as Prometheus series, read from the components' `health()` at scrape time.

Almost every figure already exists as a counter or a state in some component's health (the same
dicts the watchdog and the incidents room read), so a scrape costs a few dict lookups and nothing
is counted twice. What health does not hold as a distribution (the event→row latency) is fed live
into a `prometheus_client` Histogram by the wiring.

Labels come only from the configuration and the code (pbx name, event names, job and source
names, fixed reasons), never from a call: no caller number or name reaches a label. Event names
are the PBX's, so their number is capped where they are counted (ami/bus.py MAX_EVENT_NAMES).
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

PREFIX = "pbx_bridge"
Healths = Mapping[str, Callable[[], "dict | None"]]


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


class HealthCollector(Collector):
    """`healths`: the core's health functions by key (`core.healths`), read at each scrape, so a
    room wired after this one is still seen. A section that is absent (its room is off) gives no
    series; one whose health raises is logged and counted, and the rest of the page still answers."""

    def __init__(self, healths: Healths, pbx: str, version: str) -> None:
        self.healths = healths
        self.pbx, self.version = pbx, version
        self.health_failures: dict[str, int] = {}

    def _read(self, key: str) -> dict | None:
        fn = self.healths.get(key)
        if fn is None:
            return None
        try:
            value = fn()
        except Exception:  # noqa: BLE001 - one section's bug must not blank the page
            self.health_failures[key] = self.health_failures.get(key, 0) + 1
            log.exception("metrics_health_failed", section=key)
            return None
        return value if isinstance(value, dict) else None

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(f"{PREFIX}_info", "This daemon: its pbx name and version (always 1).",
                                 labels=["pbx", "version"])
        info.add_metric([self.pbx, self.version], 1)
        yield info
        yield from self._ami(self._read("ami"))
        yield from self._tracker(self._read("tracker"))
        yield from self._store(self._read("store"))
        yield from self._agi(self._read("agi"))
        yield from self._mqtt(self._read("mqtt"))
        yield from self._reconcile(self._read("queue_log"))
        yield from self._incidents(self._read("incidents"))
        yield from self._jobs(self._read("jobs"))
        failures = CounterMetricFamily(f"{PREFIX}_metrics_health_failures", "Scrapes at which a section's "
                                       "health raised (its series were left out; the log has the traceback).",
                                       labels=["section"])
        for key, count in self.health_failures.items():
            failures.add_metric([key], count)
        yield failures

    # --- one section each ------------------------------------------------------------------------
    @staticmethod
    def _gauge(name: str, doc: str, value: object) -> Iterator[Metric]:
        if (number := _num(value)) is not None:
            yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=number)

    @staticmethod
    def _counter(name: str, doc: str, value: object) -> Iterator[Metric]:
        if (number := _num(value)) is not None:
            yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=number)

    def _ami(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._gauge("ami_connected", "1 while logged in to the AMI, else 0.", h.get("connected"))
        sessions = _num(h.get("sessions"))
        yield from self._counter("ami_logins", "AMI logins since the daemon started.", sessions)
        if sessions is not None:
            yield from self._counter("ami_reconnects", "AMI logins after the first: each one ends a gap.",
                                     max(0.0, sessions - 1))
        events = CounterMetricFamily(f"{PREFIX}_ami_events", "AMI events handed to the daemon's handlers, by "
                                     "name as Asterisk sent it (at most 100 names; the rest under \"other\").",
                                     labels=["event"])
        for name, count in (h.get("events_by_name") or {}).items():
            events.add_metric([str(name) or "other"], count)
        yield events
        dropped = CounterMetricFamily(f"{PREFIX}_ami_frames_dropped", "AMI frames dropped, on this AMI "
                                      "connection (from 0 at each login): filtered (an event no handler takes, "
                                      "by design), oversized, malformed.", labels=["reason"])
        for reason, key in (("filtered", "skipped_frames"), ("oversized", "oversized_frames"),
                            ("malformed", "malformed_frames")):
            if (number := _num(h.get(key))) is not None:
                dropped.add_metric([reason], number)
        yield dropped
        yield from self._counter("ami_handler_errors", "AMI event handlers and login hooks that raised.",
                                 h.get("handler_errors"))

    def _tracker(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._gauge("calls_active", "Calls in a queue now (tracked from AMI).", h.get("active_calls"))
        yield from self._counter("calls_recorded", "Queue calls finished and handed to the store.", h.get("calls"))

    def _store(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._counter("store_records_written", "Records committed to the database.", h.get("written"))
        yield from self._gauge("store_records_pending", "Records in memory waiting for their batch.",
                               h.get("pending"))
        yield from self._gauge("store_records_spooled", "Records in the disk spool (the database was "
                               "unreachable); they are written when it answers.", h.get("spooled"))
        yield from self._gauge("store_spool_bytes", "Size of the disk spool.", h.get("spool_bytes"))
        yield from self._gauge("store_oldest_pending_age_seconds", "Age of the oldest record not yet written.",
                               h.get("oldest_pending_age_s"))
        yield from self._counter("store_write_failures", "Batches the database refused or did not answer.",
                                 h.get("failures"))

    def _agi(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._gauge("fastagi_sessions_active", "FastAGI sessions open now.", h.get("active"))
        yield from self._counter("fastagi_sessions", "FastAGI sessions served to their end.", h.get("served"))
        refused = CounterMetricFamily(f"{PREFIX}_fastagi_refused", "FastAGI connections refused: busy "
                                      "(max_sessions open), unauthenticated (no or a wrong secret), malformed "
                                      "(no readable header).", labels=["reason"])
        for reason, key in (("busy", "rejected"), ("unauthenticated", "unauthenticated"), ("malformed", "malformed")):
            if (number := _num(h.get(key))) is not None:
                refused.add_metric([reason], number)
        yield refused
        yield from self._counter("fastagi_route_errors", "FastAGI sessions that failed: an unknown script, a "
                                 "protocol error or a route's bug.", h.get("failed"))

    def _mqtt(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._gauge("mqtt_connected", "1 while connected to the MQTT broker, else 0.", h.get("connected"))
        yield from self._counter("mqtt_published", "MQTT messages published.", h.get("published"))

    def _reconcile(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        age = GaugeMetricFamily(f"{PREFIX}_reconcile_last_pass_age_seconds", "Seconds since the last "
                                "reconciliation pass over queue_log ended, by source (file, table).",
                                labels=["source"])
        failing = GaugeMetricFamily(f"{PREFIX}_reconcile_source_failing", "1 while the last pass over the "
                                    "source failed (retried next pass), else 0.", labels=["source"])
        lines = CounterMetricFamily(f"{PREFIX}_reconcile_lines", "queue_log lines read, by source.",
                                    labels=["source"])
        for source, run in h.items():
            if not isinstance(run, dict):
                continue
            if (number := _num(run.get("last_pass_age_s"))) is not None:
                age.add_metric([str(source)], number)
            failing.add_metric([str(source)], 0 if run.get("last_error") is None else 1)
            if (number := _num(run.get("lines"))) is not None:
                lines.add_metric([str(source)], number)
        yield from (age, failing, lines)

    def _incidents(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        yield from self._gauge("incidents_open", "Incidents open now.", h.get("open"))
        yield from self._counter("incidents_opened", "Incidents opened since the daemon started.", h.get("opened"))

    def _jobs(self, h: dict | None) -> Iterator[Metric]:
        if h is None:
            return
        failures = CounterMetricFamily(f"{PREFIX}_timed_job_failures", "Runs of a timed job that raised.",
                                       labels=["job"])
        for job, counts in h.items():
            if isinstance(counts, dict) and (number := _num(counts.get("failures"))) is not None:
                failures.add_metric([str(job)], number)
        yield failures
