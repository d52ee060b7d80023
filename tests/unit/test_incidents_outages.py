"""The daemon's own outages (rules §8) with the real parts: the store writer against a SQLite file
another process holds locked (the writes fail, records wait in memory and in the spool), and the
MQTT publisher against a real mosquitto that is stopped and started again. Each opens one incident
and closes it when the part is back, and the incident reaches the store once it can be written.

The daemon runs in-process on a FakeAmi (connected all along, so no AMI incident mixes in).
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import yaml
from sqlalchemy import select

from pbx_bridge.calls.tables import calls
from pbx_bridge.config import load_config
from pbx_bridge.daemon import Daemon
from pbx_bridge.incidents.tables import incidents
from pbx_bridge.rooms import upgrade
from pbx_bridge.store.engine import sync_engine
from tests.conftest import make_call
from tests.support import mosquitto
from tests.support.agi_peer import AGI_SECRET
from tests.support.fake_ami import FakeAmi, until

FAST = {"check_interval": 0.2, "open_after_s": 0.5, "close_after_s": 0.5, "sample_interval_s": 0.2}


def write_config(tmp_path, ami_port: int, **sections) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": ami_port, "ping_interval": 0.5, "ping_timeout": 0.5,
                "reconnect_min": 0.05, "reconnect_max": 0.2},
        "agi": {"port": 0}, "store": {"url": f"sqlite:///{tmp_path}/store.db", "flush_interval": 0.05,
                                      "spool_dir": str(tmp_path / "spool")},
        "reports": {"scheduler": False},
        "reconcile": {"enabled": False, "queue_log": None, "state_dir": str(tmp_path / "state")},
        "incidents": FAST, **sections,
    }))
    return str(config)


def stored(tmp_path, table=incidents) -> list[dict]:
    engine = sync_engine(f"sqlite:///{tmp_path}/store.db")
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    engine.dispose()
    return rows


async def running_daemon(tmp_path, fake: FakeAmi, **sections) -> tuple[Daemon, asyncio.Task]:
    upgrade(f"sqlite:///{tmp_path}/store.db")
    daemon = Daemon(load_config(write_config(tmp_path, fake.port, **sections),
                                env={"PBX_BRIDGE_AGI_SECRET": AGI_SECRET}), "s3cret")
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(fake.logged_in.wait(), 10)
    return daemon, task


async def stop(daemon: Daemon, task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_store_that_cannot_be_written_opens_a_database_incident_that_closes_once_records_are_written(
        tmp_path):
    fake = await FakeAmi().start()
    daemon, task = await running_daemon(tmp_path, fake)
    book = daemon.core.handles["incidents"]
    locker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the file: every write fails (busy)
        daemon.core.record(make_call("1795000000.1"))
        await until(lambda: "database" in book.open, timeout=30)
        assert daemon.writer.health()["last_error"] is not None
        locker.execute("COMMIT")
        await until(lambda: "database" not in book.open and book.health()["closed"] >= 1, timeout=30)
        await until(lambda: any(r["ended_at"] for r in stored(tmp_path)))  # written once it could be
    finally:
        locker.close()
        await stop(daemon, task)
        await fake.close()
    [row] = stored(tmp_path)
    assert row["nature"] == "database" and row["ended_at"] is not None and row["duration_s"] > 0
    assert [c["uniqueid"] for c in stored(tmp_path, calls)] == ["1795000000.1"], "the call that waited: not lost"


@pytest.mark.skipif(not mosquitto.available(), reason="mosquitto is not installed")
async def test_a_broker_that_goes_away_opens_an_mqtt_incident_that_closes_when_it_is_back(tmp_path):
    broker = mosquitto.Mosquitto().start()
    fake = await FakeAmi().start()
    daemon, task = await running_daemon(tmp_path, fake, mqtt={
        "enabled": True, "host": "127.0.0.1", "port": broker.port, "publish_interval": 0.2, "reconnect_min": 0.1,
        "reconnect_max": 0.3})
    book = daemon.core.handles["incidents"]
    try:
        live = daemon.core.live
        # a quiet PBX: everything published, nothing changing
        await until(lambda: daemon.health()["mqtt"]["published"] >= 1 and not live.dirty_queues
                    and not live.dirty_agents and not live.dirty_standing, timeout=10)
        broker.stop()
        await until(lambda: "mqtt" in book.open, timeout=30)
        broker.start()  # the same port
        await until(lambda: daemon.health()["mqtt"]["connected"], timeout=30)
        await until(lambda: "mqtt" not in book.open and book.health()["closed"] >= 1, timeout=30)
        await until(lambda: any(r["ended_at"] for r in stored(tmp_path)))
    finally:
        await stop(daemon, task)
        await fake.close()
        broker.stop()
    [row] = stored(tmp_path)
    assert row["nature"] == "mqtt" and row["ended_at"] is not None and row["duration_s"] > 0
