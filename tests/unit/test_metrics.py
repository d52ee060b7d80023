"""Prometheus metrics (pbx_bridge/metrics): the health figures as series of the right type and value,
event names capped, the latency histogram fed by the writer, the page on the daemon's listener, and
the example alert rules naming only series we expose."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from pbx_bridge.ami.bus import MAX_EVENT_NAMES, EventBus
from pbx_bridge.ami.client import AmiClient
from pbx_bridge.config import load_config
from pbx_bridge.daemon import Daemon
from pbx_bridge.metrics.page import MetricsPage
from pbx_bridge.metrics.wiring import MetricsNotServed
from pbx_bridge.rooms import upgrade
from tests.conftest import make_call
from tests.support.agi_peer import AGI_SECRET
from tests.support.fake_ami import FakeAmi, until
from tests.unit.test_core_wiring import daemon, wiring_ami_config  # noqa: F401 - the fixture: every room on
from tests.unit.test_wallboard_server import get, request, started, stopped

ALERTS = Path(__file__).parents[2] / "docs" / "prometheus" / "alerts.yml"

HEALTH = {
    "ami": {"connected": True, "sessions": 3, "events": 9, "handler_errors": 1, "skipped_frames": 40,
            "oversized_frames": 1, "malformed_frames": 2, "events_by_name": {"QueueCallerJoin": 5, "Hangup": 4}},
    "tracker": {"active_calls": 2, "calls": 17, "offers": 30},
    "store": {"pending": 4, "spooled": 12, "spool_bytes": 2048, "oldest_pending_age_s": 1.5, "written": 120,
              "batches": 9, "failures": 2, "last_error": None, "merged": {}, "latency": {"count": 0}},
    "agi": {"listening": True, "active": 1, "served": 50, "rejected": 3, "malformed": 4, "failed": 5,
            "unauthenticated": 6, "accept_errors": 0, "crashed": 0},
    "mqtt": {"connected": False, "published": 77, "sessions": 1, "pending_alerts": 0},
    "queue_log": {"file": {"position": "x", "passes": 3, "lines": 210, "malformed": 0, "open_calls": 0,
                           "last_error": None, "built": {}, "last_pass_age_s": 4.2}},
    "incidents": {"open": 2, "opened": 5, "closed": 3, "open_natures": ["ami"], "system": ["ami"]},
    "jobs": {"call-sweeper": {"runs": 10, "failures": 1, "last_error": "x"}},
}


def scrape(text: str) -> tuple[dict[str, str], dict[tuple, float]]:
    """(family name -> type, (sample name, labels) -> value)."""
    types, values = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, values


def page_of(health: dict) -> MetricsPage:
    return MetricsPage({key: (lambda value=value: value) for key, value in health.items()}, "pbx1", "0.1.0")


def test_each_figure_of_the_health_dicts_is_a_series_of_its_type_and_value():
    types, values = scrape(page_of(HEALTH).render().decode())
    expected = {
        ("pbx_bridge_ami_connected", ()): ("gauge", 1),
        ("pbx_bridge_ami_logins_total", ()): ("counter", 3),
        ("pbx_bridge_ami_reconnects_total", ()): ("counter", 2),
        ("pbx_bridge_ami_events_total", (("event", "QueueCallerJoin"),)): ("counter", 5),
        ("pbx_bridge_ami_events_total", (("event", "Hangup"),)): ("counter", 4),
        ("pbx_bridge_ami_frames_dropped_total", (("reason", "filtered"),)): ("counter", 40),
        ("pbx_bridge_ami_frames_dropped_total", (("reason", "oversized"),)): ("counter", 1),
        ("pbx_bridge_ami_frames_dropped_total", (("reason", "malformed"),)): ("counter", 2),
        ("pbx_bridge_ami_handler_errors_total", ()): ("counter", 1),
        ("pbx_bridge_calls_active", ()): ("gauge", 2),
        ("pbx_bridge_calls_recorded_total", ()): ("counter", 17),
        ("pbx_bridge_store_records_written_total", ()): ("counter", 120),
        ("pbx_bridge_store_records_pending", ()): ("gauge", 4),
        ("pbx_bridge_store_records_spooled", ()): ("gauge", 12),
        ("pbx_bridge_store_spool_bytes", ()): ("gauge", 2048),
        ("pbx_bridge_store_oldest_pending_age_seconds", ()): ("gauge", 1.5),
        ("pbx_bridge_store_write_failures_total", ()): ("counter", 2),
        ("pbx_bridge_fastagi_sessions_active", ()): ("gauge", 1),
        ("pbx_bridge_fastagi_sessions_total", ()): ("counter", 50),
        ("pbx_bridge_fastagi_refused_total", (("reason", "busy"),)): ("counter", 3),
        ("pbx_bridge_fastagi_refused_total", (("reason", "malformed"),)): ("counter", 4),
        ("pbx_bridge_fastagi_refused_total", (("reason", "unauthenticated"),)): ("counter", 6),
        ("pbx_bridge_fastagi_route_errors_total", ()): ("counter", 5),
        ("pbx_bridge_mqtt_connected", ()): ("gauge", 0),
        ("pbx_bridge_mqtt_published_total", ()): ("counter", 77),
        ("pbx_bridge_reconcile_last_pass_age_seconds", (("source", "file"),)): ("gauge", 4.2),
        ("pbx_bridge_reconcile_source_failing", (("source", "file"),)): ("gauge", 0),
        ("pbx_bridge_reconcile_lines_total", (("source", "file"),)): ("counter", 210),
        ("pbx_bridge_incidents_open", ()): ("gauge", 2),
        ("pbx_bridge_incidents_opened_total", ()): ("counter", 5),
        ("pbx_bridge_timed_job_failures_total", (("job", "call-sweeper"),)): ("counter", 1),
        ("pbx_bridge_info", (("pbx", "pbx1"), ("version", "0.1.0"))): ("gauge", 1),
    }
    for key, (kind, value) in expected.items():
        assert values.get(key) == value, key
        assert types[re.sub(r"_total$", "", key[0])] == kind, key
    assert types["pbx_bridge_store_event_to_row_seconds"] == "histogram"
    assert values[("pbx_bridge_store_event_to_row_seconds_count", ())] == 0


def test_a_room_that_is_off_gives_no_series_and_a_health_that_raises_is_counted_and_left_out():
    def broken():
        raise RuntimeError("a room's bug")

    page = MetricsPage({"ami": broken, "tracker": lambda: HEALTH["tracker"]}, "pbx1", "0.1.0")
    for _ in range(2):
        types, values = scrape(page.render().decode())
    assert values[("pbx_bridge_calls_active", ())] == 2
    assert values[("pbx_bridge_metrics_health_failures_total", (("section", "ami"),))] == 2
    assert not any(name.startswith(("pbx_bridge_ami", "pbx_bridge_mqtt", "pbx_bridge_store_records"))
                   for name in types)


def test_event_names_past_the_cap_and_overlong_ones_are_counted_under_other():
    bus = EventBus()
    for i in range(MAX_EVENT_NAMES + 50):
        bus.dispatch({"Event": f"Hostile{i}"})
    bus.dispatch({"Event": "Hostile0"})
    bus.dispatch({"Event": "X" * 65})
    assert len(bus.by_name) == MAX_EVENT_NAMES + 1
    assert bus.by_name["Hostile0"] == 2 and bus.by_name["other"] == 51
    _, values = scrape(page_of({"ami": {"events_by_name": bus.by_name}}).render().decode())
    labels = [dict(key[1])["event"] for key in values if key[0] == "pbx_bridge_ami_events_total"]
    assert len(labels) == MAX_EVENT_NAMES + 1 and "other" in labels


async def test_an_unfiltered_stream_of_made_up_event_names_stays_within_the_cap():
    fake = await FakeAmi().start()
    client = AmiClient(wiring_ami_config(fake.port), "s3cret")
    client.subscribe(None, lambda event: None)  # every event: nothing is filtered before the bus
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: fake.logins == 1)
        await fake.push(b"".join(f"Event: Made{i}\r\nUniqueid: 1.{i}\r\n\r\n".encode()
                                 for i in range(MAX_EVENT_NAMES * 2)))
        await until(lambda: client.events == MAX_EVENT_NAMES * 2)
        by_name = client.health()["events_by_name"]
        assert len(by_name) == MAX_EVENT_NAMES + 1 and by_name["other"] == MAX_EVENT_NAMES
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fake.close()


async def test_the_daemon_serves_every_section_at_its_path_without_a_callers_number_and_times_each_row(
        daemon):  # noqa: F811 - the fixture
    core = daemon.core
    core.tracker.handle({"Event": "QueueCallerJoin", "Uniqueid": "9.1", "Queue": "support",
                         "CallerIDNum": "13800138000", "CallerIDName": "张三丰", "Position": "1"})
    core.writer.put(make_call("9.2"), event_ts=time.time() - 0.3)
    await core.writer.flush()
    server = daemon.core.handles["live"].wallboard
    srv, task = await started(pages=server.pages)
    try:
        status, headers, body = await request(srv.port, get("/metrics"))
    finally:
        await stopped(task)
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = body.decode()
    types, values = scrape(text)
    assert values[("pbx_bridge_calls_active", ())] == 1
    assert values[("pbx_bridge_store_records_written_total", ())] == 1
    assert values[("pbx_bridge_store_event_to_row_seconds_count", ())] == 1
    assert values[("pbx_bridge_store_event_to_row_seconds_bucket", (("le", "0.25"),))] == 0
    assert values[("pbx_bridge_store_event_to_row_seconds_bucket", (("le", "+Inf"),))] == 1
    for family in ("pbx_bridge_ami_connected", "pbx_bridge_ami_frames_dropped", "pbx_bridge_fastagi_sessions_active",
                   "pbx_bridge_fastagi_refused", "pbx_bridge_mqtt_connected", "pbx_bridge_reconcile_source_failing",
                   "pbx_bridge_incidents_open", "pbx_bridge_store_records_spooled", "process_open_fds"):
        assert family in types, family
    assert ("pbx_bridge_reconcile_source_failing", (("source", "file"),)) in values
    assert "13800138000" not in text and "张三丰" not in text and "support" not in text


def metrics_without_web(tmp_path):
    """A config with metrics on and the web listener off (its default), on an upgraded store."""
    url = f"sqlite:///{tmp_path}/store.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": url, "spool_dir": str(tmp_path / "spool")},
        "reconcile": {"enabled": False, "state_dir": str(tmp_path / "state")},
        "metrics": {"enabled": True}}))
    upgrade(url)
    return config


async def test_metrics_without_the_web_listener_refuse_to_start(tmp_path):
    config = metrics_without_web(tmp_path)
    with pytest.raises(MetricsNotServed, match="wallboard.enabled"):
        Daemon(load_config(str(config), env={}), "s3cret")


def test_the_example_alert_rules_parse_and_name_only_series_we_expose():
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) == {"PbxBridgeDown", "PbxBridgeAmiDown", "PbxBridgeSpoolGrowing", "PbxBridgeSlowRows"}
    types, _ = scrape(page_of(HEALTH).render().decode())
    exposed = set(types) | {f"{name}_total" for name, kind in types.items() if kind == "counter"} | {
        f"{name}_{part}" for name, kind in types.items() if kind == "histogram" for part in ("bucket", "count", "sum")}
    for name, rule in alerts.items():
        used = set(re.findall(r"\b(pbx_bridge_[a-z0-9_]+)", rule["expr"]))
        assert used <= exposed, (name, used - exposed)
        assert used or "up{" in rule["expr"], name
    promtool = shutil.which("promtool")
    if promtool:  # not installed on every machine: the YAML check above stands in for it
        result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_daemon_process_with_metrics_but_no_web_listener_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    config = metrics_without_web(tmp_path)
    result = subprocess.run([sys.executable, "-m", "pbx_bridge", "run", "-c", str(config)], capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PBX_BRIDGE_AMI_SECRET": "s3cret"})
    assert result.returncode == 2, result.stderr
    assert "config error: metrics.enabled needs wallboard.enabled" in result.stderr
    assert "Traceback" not in result.stderr
