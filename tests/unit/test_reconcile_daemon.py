"""The daemon end to end on a scripted AMI: what an AMI gap cost is completed from queue_log at reconnect."""

import asyncio
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from pbx_bridge.config import load_config
from pbx_bridge.daemon import Daemon
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.calls.tables import calls
from tests.support import queue_log
from tests.support.agi_peer import AGI_SECRET
from tests.support.fake_ami import FakeAmi

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"


def frames_before(cut: float) -> tuple[bytes, int]:
    """The recorded AMI stream up to `cut` (event time), and how many frames that is."""
    frames = (TRANSCRIPTS / "mixed.ami").read_bytes().split(b"\r\n\r\n")
    kept = []
    for frame in frames:
        stamp = re.search(rb"^Timestamp: ([0-9.]+)", frame, re.M)
        if stamp and float(stamp.group(1)) >= cut:
            break
        if frame.strip():
            kept.append(frame + b"\r\n\r\n")
    return b"".join(kept), len(kept)


async def until(predicate, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def stored(url):
    engine = sync_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(calls)).mappings()]
    engine.dispose()
    return rows


async def test_calls_cut_by_an_ami_gap_are_completed_from_queue_log_at_reconnect(tmp_path):
    lines = (TRANSCRIPTS / "mixed.queue_log").read_text().splitlines(keepends=True)
    oracle = queue_log.parse(lines)
    cut = 1795460112.0
    active_at_cut = [c for c in oracle.values() if c.entered_at < cut and int(lines[-1].split("|")[0]) > cut]
    assert active_at_cut
    path = tmp_path / "queue_log"
    path.write_text("".join(line for line in lines if float(line.split("|")[0]) < cut))
    fake = await FakeAmi().start()
    url = f"sqlite:///{tmp_path}/store.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": fake.port, "ping_interval": 0.5, "ping_timeout": 0.5,
                "reconnect_min": 0.05, "reconnect_max": 0.2},
        "agi": {"port": 0}, "store": {"url": url, "flush_interval": 0.05}, "reports": {"scheduler": False},
        "reconcile": {"queue_log": str(path), "state_dir": str(tmp_path / "state"), "interval": 3600},
    }))
    upgrade(url)
    daemon = Daemon(load_config(str(config), env={"PBX_BRIDGE_AGI_SECRET": AGI_SECRET}), "s3cret")
    running = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(fake.logged_in.wait(), 10)
        await until(lambda: daemon.core.handles["reconcile"].runs[0].passes >= 1)
        data, count = frames_before(cut)
        await fake.push(data)
        await until(lambda: daemon.ami.health()["events"] >= count - 1)  # all but the unwanted first DialEnd
        assert daemon.tracker.active, "calls were in the queue when AMI was lost"
        with open(path, "a") as handle:  # Asterisk goes on logging while we cannot hear it
            handle.write("".join(line for line in lines if float(line.split("|")[0]) >= cut))
        fake.drop_all()
        await until(lambda: len(stored(url)) == len(oracle) and not any(r["incomplete"] for r in stored(url)))
        health = daemon.health()["queue_log"]["file"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.close()
    rows = stored(url)
    assert sorted(r["uniqueid"] for r in rows) == sorted(oracle)
    for row in rows:
        truth = oracle[row["uniqueid"]]
        assert (row["outcome"], row["agent"]) == (truth.outcome, truth.agent), row["uniqueid"]
        assert row["wait_s"] == pytest.approx(truth.wait_s, abs=1.0)
    sources = {r["source"] for r in rows}
    assert sources == {"ami", "queue_log"}
    assert daemon.writer.merged["queue_log_completed"] >= 1, "an incomplete AMI row was completed"
    assert health["queue_log_inserted"] >= 1 and health["lines"] >= len(lines)
