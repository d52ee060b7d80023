"""PostgreSQL stopped while the lab takes calls: the records wait in memory and in the spool, and
every call of Asterisk's queue_log is in the database exactly once when it is back."""

import json
import socket
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lab import traffic
from tests.support import queue_log
from tests.support.daemon import DaemonProcess

pytestmark = [pytest.mark.lab, pytest.mark.postgres]

OUTAGE_S = 60


class NotifySocket:
    """Stands in for systemd's notify socket: the STATUS lines the daemon sends.

    Read by a thread as they come: the kernel queues only a few datagrams (net.unix.max_dgram_qlen
    may be 10), and the daemon drops a notification rather than block on a full socket.
    """

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.received: list[str] = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while not self._closed.is_set():
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def statuses(self) -> list[str]:
        return [field[len("STATUS="):] for message in list(self.received) for field in message.split("\n")
                if field.startswith("STATUS=")]

    def close(self):
        self._closed.set()
        self._reader.join()
        self.sock.close()


def start_daemon(tmp_path, pg_server, notify, pbx):
    daemon = DaemonProcess(tmp_path, pg_server.url, pbx=pbx, store={"max_pending": 5})
    daemon.env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")  # STATUS every second
    return daemon.start()


def rows_of(daemon, pbx):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    out = daemon.export("calls", str(today - timedelta(days=1)), str(today + timedelta(days=1)))
    return [row for row in map(json.loads, out.splitlines()) if row["pbx"] == pbx]


def assert_queue_log_recorded_once(lab, rows):
    oracle = queue_log.parse(lab.queue_log_lines())
    keys = [row["uniqueid"] for row in rows]
    assert len(keys) == len(set(keys)), "nothing twice"
    assert set(keys) == set(oracle), "nothing lost"
    for row in rows:
        truth = oracle[row["uniqueid"]]
        assert (row["outcome"], row["agent"]) == (truth.outcome, truth.agent), row["uniqueid"]
        assert row["wait_s"] == pytest.approx(truth.wait_s, abs=1.0), row["uniqueid"]
    return oracle


def spooled_counts(statuses):
    return [int(s.split(" spooled")[0].rsplit(", ", 1)[1]) for s in statuses if " spooled" in s]


def test_a_60_s_postgresql_outage_during_calls_loses_none_and_records_none_twice(lab, lab_ami, pg_server, tmp_path):
    lab.clear_queue_log()
    notify = NotifySocket(tmp_path / "notify")
    daemon = start_daemon(tmp_path, pg_server, notify, "pbx-dbo")
    try:
        calls = traffic.answered(lab_ami)["calls"] + traffic.abandoned(lab_ami)["calls"]
        daemon.wait_for("call_recorded", count=len(calls))

        pg_server.pause()
        stopped = time.monotonic()
        calls += traffic.mixed(lab_ami, n=12, seed=29, gap=1.5)["calls"]
        calls += traffic.ring_no_answer(lab_ami)["calls"]
        daemon.wait_for("call_recorded", count=len(calls))
        daemon.wait_for("store_spooling_started")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        during = spooled_counts(notify.statuses())
        pg_server.resume()
        outage_s = time.monotonic() - stopped

        calls += traffic.answered(lab_ami)["calls"]
        drained = daemon.wait_for("store_spool_drained", timeout=90)[0]
        daemon.wait_for("call_recorded", count=len(calls))
        assert daemon.stop() == 0
    finally:
        notify.close()

    assert outage_s >= OUTAGE_S
    oracle = assert_queue_log_recorded_once(lab, rows_of(daemon, "pbx-dbo"))
    assert len(oracle) == len(calls)
    lines = daemon.lines()
    events = [line["event"] for line in lines]
    assert events.count("store_spooling_started") == 1 and events.count("store_spool_drained") == 1
    assert max(during) > 0, "the STATUS line told of the spooled records"
    stopped_line = next(line for line in lines if line["event"] == "daemon_stopped")
    assert (stopped_line["pending"], stopped_line["spooled"]) == (0, 0)
    assert not list((tmp_path / "pbx-dbo-spool").glob("*.jsonl"))
    print(f"\n{len(calls)} calls; outage {outage_s:.0f} s; {drained['spooled']} records spooled and replayed "
          f"(drained {drained['seconds']} s after spooling started); {stopped_line['written']} rows written")


def test_a_daemon_stopped_during_an_outage_spools_its_memory_and_replays_it_at_start(lab, lab_ami, pg_server,
                                                                                       tmp_path):
    lab.clear_queue_log()
    notify = NotifySocket(tmp_path / "notify")
    daemon = start_daemon(tmp_path, pg_server, notify, "pbx-dbr")
    try:
        pg_server.pause()
        try:
            calls = traffic.mixed(lab_ami, n=6, seed=31, gap=1.5)["calls"]
            daemon.wait_for("call_recorded", count=len(calls))
            assert daemon.stop() == 0  # SIGTERM with the database down
        finally:
            pg_server.resume()
        spilled = daemon.wait_for("store_spooled_at_shutdown")[0]
        daemon.start(wait_connected=False)
        daemon.wait_for("ami_connected", count=2)
        replayed = daemon.wait_for("store_spool_replayed", timeout=60)[0]
        calls += traffic.answered(lab_ami)["calls"]
        daemon.wait_for("call_recorded", count=len(calls))
        assert daemon.stop() == 0
    finally:
        notify.close()

    assert spilled["records"] > 0 and replayed["records"] == spilled["spooled"]
    oracle = assert_queue_log_recorded_once(lab, rows_of(daemon, "pbx-dbr"))
    assert len(oracle) == len(calls)
    print(f"\n{spilled['records']} records in memory spooled at shutdown, {replayed['records']} replayed at start")
