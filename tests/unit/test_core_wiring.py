"""The core every feature plugs into: AMI subscriptions isolated per handler, AGI routes added once,
records fanned out after the store, and the daemon wiring every enabled room through it alone."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.ami.client import AmiClient
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import load_config
from pbx_bridge.core import Core
from pbx_bridge.daemon import Daemon
from pbx_bridge.incidents.model import Incident
from pbx_bridge.live.state import LiveState
from pbx_bridge.rooms import ROOMS, record_kinds, upgrade
from pbx_bridge.rota.values import hash_pin
from tests.conftest import make_call
from tests.support.agi_peer import AGI_SECRET
from tests.support.fake_ami import FakeAmi, ami_config, until
from tests.support.web import users_file
from tests.unit.test_pin_menus import rota_yaml

JOIN = b"Event: QueueCallerJoin\r\nUniqueid: 1.1\r\nQueue: q\r\n\r\n"
HANGUP = b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n"
USER = b"Event: UserEvent\r\nUserEvent: PbxBridgeCallback\r\n\r\n"
DAEMON = Path(__file__).parents[2] / "pbx_bridge" / "daemon.py"


def wiring_ami_config(port):
    return ami_config(port, ping_interval=0.5, ping_timeout=0.5)


@pytest.fixture
async def fake():
    server = await FakeAmi().start()
    yield server
    await server.close()


async def stop(task):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_event_handler_costs_only_its_own_share_and_is_counted_by_name(fake):
    heard = []

    def broken(event):
        raise ValueError("bug")

    client = AmiClient(wiring_ami_config(fake.port), "s3cret")
    client.subscribe(["QueueCallerJoin"], broken, name="broken")
    client.subscribe(["QueueCallerJoin"], heard.append, name="healthy")
    task = asyncio.create_task(client.run())
    await until(lambda: fake.logins == 1)
    await fake.push(JOIN + JOIN)
    await until(lambda: len(heard) == 2)
    assert client.health()["handler_errors_by_handler"] == {"broken": 2}
    assert client.handler_errors == 2 and client.sessions == 1
    await stop(task)


async def test_the_stream_carries_the_union_of_the_subscribed_events_each_to_its_own_handlers(fake):
    joins, users = [], []
    client = AmiClient(wiring_ami_config(fake.port), "s3cret")
    client.subscribe(["QueueCallerJoin"], joins.append)
    client.subscribe(["UserEvent"], users.append)
    assert client.wanted_events == {"queuecallerjoin", "userevent"}
    task = asyncio.create_task(client.run())
    await until(lambda: fake.logins == 1)
    await fake.push(HANGUP + JOIN + USER)
    await until(lambda: joins and users)
    assert [e["Event"] for e in joins] == ["QueueCallerJoin"] and [e["Event"] for e in users] == ["UserEvent"]
    assert client.events == 2, "the Hangup nobody subscribed to was skipped before parsing"
    await stop(task)


async def test_a_failing_connect_hook_does_not_skip_the_next_or_cost_the_connection(fake):
    ran = []

    async def broken(ami, gap_s):
        ran.append("broken")
        raise RuntimeError("bug")

    async def healthy(ami, gap_s):
        ran.append("healthy")

    client = AmiClient(wiring_ami_config(fake.port), "s3cret")
    client.on_connect(broken)
    client.on_connect(healthy)
    task = asyncio.create_task(client.run())
    await until(lambda: ran == ["broken", "healthy"])
    await asyncio.sleep(0.2)
    assert client.logged_in and client.sessions == 1 and fake.logins == 1
    await stop(task)


def test_a_fastagi_route_name_is_added_once():
    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5,
                                     secret=AGI_SECRET))

    async def route(session):
        pass

    server.add_route("ring_twice", route)
    with pytest.raises(ValueError, match="ring_twice"):
        server.add_route("ring_twice", route)


@pytest.fixture
async def daemon(tmp_path):
    """A daemon with every room enabled (built, not run)."""
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    (tmp_path / "queue_log").write_text("")
    url = f"sqlite:///{tmp_path}/store.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": url, "spool_dir": str(tmp_path / "spool")},
        "reports": {"scheduler": True, "output_dir": str(tmp_path / "reports")},
        "reconcile": {"queue_log": str(tmp_path / "queue_log"), "state_dir": str(tmp_path / "state")},
        "voicemail": {"enabled": True, "rota": str(rota), "spool_dir": str(tmp_path / "vm")},
        "agents": {"enabled": True}, "mqtt": {"enabled": True}, "wallboard": {"enabled": True, "port": 0},
        "metrics": {"enabled": True},
        "threats": {"enabled": True, "companies": {"jingan": {
            "lead": {"name": "组长", "endpoint": "PJSIP/lead401"},
            "manager": {"name": "经理", "endpoint": "13900000402"}}}},
        "qa": {"enabled": True, "supervisors": [{"name": "S", "endpoint": "PJSIP/super601", "employee_no": "0601",
                                                 "pin_hash": hash_pin("246810"), "companies": ["*"]}]},
        "web": {"enabled": True, "users_file": str(users_file(tmp_path / "web-users.yaml"))},
    }, allow_unicode=True))
    upgrade(url)
    built = Daemon(load_config(str(config), env={}), "s3cret")
    yield built
    await built.engine.dispose()


async def test_every_room_wires_its_tasks_routes_and_health_through_the_core(daemon):
    assert set(daemon.core.tasks) == {
        "ami", "store-writer", "fastagi", "call-sweeper", "watchdog", "mqtt", "wallboard", "queue-log", "callbacks",
        "voicemail-duty", "rota-watch", "nuisance", "reports", "ring-twice", "threats",
        "incidents", "web-users"}
    assert set(daemon.agi.routes) == {"ring_twice", "voicemail", "voicemail_login", "screen", "nuisance_warn",
                                      "callback_request", "agent_login", "agent_logout", "agent_pause",
                                      "agent_resume", "threat_mark", "threat_notice", "qa_spy", "qa_score",
                                      "escalation_priority"}
    assert set(daemon.health()) == {"ami", "tracker", "store", "agi", "ring_twice", "agents", "pins", "mqtt",
                                    "reports", "wallboard", "queue_log", "nuisance", "callbacks", "jobs", "threats",
                                    "qa", "incidents", "web", "rollups"}
    assert set(daemon.core.handles) == set(ROOMS)


async def test_a_rooms_own_record_through_core_record_reaches_every_subscriber_without_breaking_one(daemon):
    record = Incident("i1", "ami", "ami", None, 1_700_000_000.0).record("pbx1")
    daemon.core.record(record)  # the live state takes call records only; it must let others pass
    assert daemon.writer.health()["pending"] == 1


async def test_each_record_goes_to_the_store_first_then_to_every_subscriber_in_order(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": f"sqlite:///{tmp_path}/store.db", "spool_dir": str(tmp_path / "spool")}}))
    core, seen = Core.build(load_config(str(config), env={}), "s3cret", record_kinds()), []  # the core alone, no room wired
    core.on_record(lambda record: seen.append(("first", record, core.writer.health()["pending"])))
    core.on_record(lambda record: seen.append(("second", record)))
    record = make_call()
    core.record(record)
    assert seen == [("first", record, 1), ("second", record)]
    await core.engine.dispose()


def test_the_daemon_is_small_and_names_no_feature():
    source = DAEMON.read_text()
    assert len(source.splitlines()) <= 180
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "pbx_bridge", "pbx_bridge.config", "pbx_bridge.core", "pbx_bridge.life",
                        "pbx_bridge.store.engine"}


async def test_a_notice_reaches_the_live_alerts_and_every_listener_even_past_a_failing_one(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": f"sqlite:///{tmp_path}/store.db", "spool_dir": str(tmp_path / "spool")}}))
    core, heard = Core.build(load_config(str(config), env={}), "s3cret", record_kinds()), []
    core.live = LiveState(ZoneInfo("Asia/Shanghai"))

    def broken(notice):
        raise RuntimeError("a listener's bug")

    core.on_notice(broken)
    core.on_notice(heard.append)
    core.notice({"type": "recovery", "queue": "support"})
    assert heard == [{"type": "recovery", "queue": "support"}]
    assert [a["type"] for a in core.live.take_alerts()] == ["recovery"]
    await core.engine.dispose()
