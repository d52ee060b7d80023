"""/metrics scraped from the real daemon while the lab places calls: the named series move."""

import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab import traffic
from tests.support.daemon import DaemonProcess
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.lab


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    assert "13900000001" not in text and "Alice Wang" not in text, "a caller's number or name in a label"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def until(port: int, test, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        values = scrape(port)
        if test(values):
            return values
        assert time.monotonic() < deadline, f"not within {timeout} s: {values}"
        time.sleep(0.2)


JOINS = ("pbx_bridge_ami_events_total", (("event", "QueueCallerJoin"),))
WRITTEN = ("pbx_bridge_store_records_written_total", ())
LATENCY = ("pbx_bridge_store_event_to_row_seconds_count", ())
ACTIVE = ("pbx_bridge_calls_active", ())


def test_metrics_move_with_the_calls_the_lab_places(lab, lab_ami, tmp_path):
    port = free_port()
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           wallboard={"enabled": True, "port": port}, metrics={"enabled": True}).start()
    before = until(port, lambda v: v.get(("pbx_bridge_ami_connected", ())) == 1)
    assert before[ACTIVE] == 0
    try:
        with ThreadPoolExecutor(1) as pool:
            answered = pool.submit(traffic.answered, lab_ami)  # the customer stays about 8 s
            during = until(port, lambda v: v[ACTIVE] >= 1, timeout=20)
            answered.result()
        traffic.abandoned(lab_ami)
        daemon.wait_for("call_recorded", count=2, timeout=30)
        after = until(port, lambda v: v[WRITTEN] >= before[WRITTEN] + 2 and v[LATENCY] >= 2 and v[ACTIVE] == 0)
    finally:
        for ext in (201, 202):  # as the lab's other tests expect them
            traffic.set_agent(lab_ami, ext)
    assert during[("pbx_bridge_ami_connected", ())] == 1
    assert after[JOINS] >= before.get(JOINS, 0) + 2
    assert after[("pbx_bridge_ami_events_total", (("event", "QueueCallerAbandon"),))] >= 1
    assert after[("pbx_bridge_calls_recorded_total", ())] >= before[("pbx_bridge_calls_recorded_total", ())] + 2
    assert after[("pbx_bridge_store_event_to_row_seconds_bucket", (("le", "+Inf"),))] == after[LATENCY]
    assert after[("pbx_bridge_fastagi_sessions_active", ())] == 0
    assert daemon.stop() == 0
