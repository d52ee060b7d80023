"""The nuisance AGI routes and the daemon's view, against the AGI peer and a real SQLite store:
the agent's first warning beeps, the second ends the call and screens the number at once;
a screened number is turned away; screens and lifts written by another process apply at refresh."""

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import Config, packaged_defaults
from pbx_bridge.nuisance import routes as nuisance_routes, store
from pbx_bridge.nuisance.desk import NuisanceDesk
from pbx_bridge.nuisance.model import ScreenedCallRecord, WarningRecord
from pbx_bridge.nuisance.settings import NuisanceConfig
from pbx_bridge.ring_twice.route import ring_twice
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.writer import StoreWriter
from tests.support.agi_peer import AGI_SECRET, AgiPeer

CALLER = "Local/s@pbx-bridge-inbound-00000007;2"
AGENT = "PJSIP/agent301-0000000a"


def call_vars(uid="1795471128.1", number="13911112222", channel=CALLER):
    return {"GET VARIABLE PBXB_CALLER_UID": f"200 result=1 ({uid})",
            "GET VARIABLE PBXB_CALLER_NUM": f"200 result=1 ({number})",
            "GET VARIABLE PBXB_CALLER_CHAN": f"200 result=1 ({channel})",
            "GET VARIABLE CHANNELREDIRECT_STATUS": "200 result=1 (SUCCESS)"}


class Clock:
    def __init__(self):
        self.t = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc).timestamp()

    def __call__(self):
        return self.t


@pytest.fixture
async def desk(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    records = []
    clock = Clock()
    desk = NuisanceDesk(NuisanceConfig(screen_for="10m"), "pbx1", ZoneInfo("Asia/Shanghai"), engine, records.append,
                        name_of={"PJSIP/agent301": "Agent 301"}.get, clock=clock)
    desk.records, desk.test_clock = records, clock
    yield desk
    await desk.engine.dispose()


async def agi(desk, script, **peer):
    cfg = load_config_stub()
    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5,
                                     secret=AGI_SECRET),
                           {"ring_twice": ring_twice(cfg), "screen": nuisance_routes.screen(desk),
                            "nuisance_warn": nuisance_routes.nuisance_warn(desk)})
    task = asyncio.create_task(server.run())
    while not server.listening:
        await asyncio.sleep(0.01)
    commands = await asyncio.wait_for(AgiPeer.fastagi(script, [], port=server.port, **peer)
                                      .call_fastagi("127.0.0.1", server.port), 10)
    task.cancel()
    return commands


def load_config_stub():
    data = packaged_defaults()
    data["ami"]["host"] = "127.0.0.1"
    return Config.model_validate(data)


async def test_the_first_warning_beeps_to_the_agent_and_is_recorded_as_evidence(desk):
    with capture_logs() as logs:
        commands = await agi(desk, "nuisance_warn", channel=AGENT, replies=call_vars())
    assert 'STREAM FILE beep ""' in commands
    assert not any(c.startswith("EXEC ChannelRedirect") for c in commands)
    [warning] = desk.records
    assert isinstance(warning, WarningRecord)
    assert (warning.number, warning.seq, warning.call_uniqueid, warning.agent, warning.endpoint, warning.caller_channel) \
        == ("13911112222", 1, "1795471128.1", "Agent 301", "PJSIP/agent301", CALLER)
    recorded = next(e for e in logs if e["event"] == "nuisance_warning_recorded")
    assert (recorded["number"], recorded["agent"], recorded["seq"]) == ("13911112222", "Agent 301", 1)
    assert desk.check("13911112222") is None, "one warning does not screen"


async def test_the_second_warning_ends_the_call_with_the_notice_and_screens_the_number_at_once(desk):
    await agi(desk, "nuisance_warn", channel=AGENT, replies=call_vars())
    with capture_logs() as logs:
        commands = await agi(desk, "nuisance_warn", channel=AGENT, replies=call_vars())
    assert f"EXEC ChannelRedirect {CALLER},pbx-bridge-nuisance-notice,warned,1" in commands
    assert [r.seq for r in desk.records] == [1, 2]
    assert any(e["event"] == "nuisance_call_ended" for e in logs)
    screen = desk.check("13911112222")
    assert screen is not None and screen.source == "warnings", "no wait for the store: screened from memory"
    desk.test_clock.t += 601
    assert desk.check("13911112222") is None, "released after screen_for"


async def test_star7_outside_a_queued_call_records_nothing(desk):
    with capture_logs() as logs:
        commands = await agi(desk, "nuisance_warn", channel=AGENT, replies={})
    assert 'STREAM FILE beeperr ""' in commands and desk.records == []
    # said once, in the log, with the phone that pressed it; nothing else done to any call
    assert not any("ChannelRedirect" in c or c.startswith("SET VARIABLE") for c in commands)
    [said] = [e for e in logs if e["event"] == "nuisance_warn_outside_queued_call"]
    assert said["log_level"] == "warning" and said["agent_channel"] == AGENT


async def test_a_screened_number_is_turned_away_and_the_call_is_recorded(desk, sqlite_url):
    store.add_screen(sync_engine(sqlite_url), "13911112222", desk.now() - timedelta(minutes=1), None, "threats", "lead")
    await desk.refresh()
    with capture_logs() as logs:
        commands = await agi(desk, "screen", caller_num="13911112222", uniqueid="1795471200.9")
    assert "SET VARIABLE PBXB_SCREENED 1" in commands
    [record] = desk.records
    assert isinstance(record, ScreenedCallRecord)
    assert (record.uniqueid, record.number, record.source, record.reason) == ("1795471200.9", "13911112222", "admin",
                                                                              "threats")
    screened = next(e for e in logs if e["event"] == "inbound_screened")
    assert screened["number"] == "13911112222" and screened["until"] == "permanent"
    other = await agi(desk, "screen", caller_num="13800000000")
    assert "SET VARIABLE PBXB_SCREENED 0" in other


async def test_a_lift_made_by_another_process_applies_at_the_next_refresh(desk, sqlite_url):
    engine = sync_engine(sqlite_url)
    store.add_screen(engine, "13911112222", desk.now() - timedelta(minutes=1), None, "threats", "lead")
    await desk.refresh()
    assert desk.check("13911112222") is not None
    store.add_lift(engine, "13911112222", desk.now(), "apologised", "lead")
    assert desk.check("13911112222") is not None, "memory until the refresh"
    with capture_logs() as logs:
        await desk.refresh()
    assert desk.check("13911112222") is None
    assert [e["event"] for e in logs if e["event"].startswith("nuisance_screen")] == ["nuisance_screen_ended"]


async def test_warnings_stored_then_a_restarted_daemon_counts_on_within_the_call(desk, sqlite_url):
    await agi(desk, "nuisance_warn", channel=AGENT, replies=call_vars())
    writer = StoreWriter(desk.engine, kinds=record_kinds())
    for record in desk.records:
        writer.put(record)
    await writer.flush()
    restarted = NuisanceDesk(desk.cfg, "pbx1", ZoneInfo("Asia/Shanghai"), desk.engine, [].append, clock=desk.test_clock)
    await restarted.refresh()
    record = await restarted.warn("1795471128.1", "13911112222", CALLER, AGENT)
    assert record.seq == 2 and record.agent == "PJSIP/agent301", "no member name known: the endpoint"
    assert restarted.check("13911112222") is not None
    rows = store.warning_rows(sync_engine(sqlite_url), "13911112222", None, None)
    assert [(r["seq"], r["agent"]) for r in rows] == [(1, "Agent 301")]


async def test_the_view_survives_a_store_it_cannot_read(desk, sqlite_url, tmp_path):
    store.add_screen(sync_engine(sqlite_url), "13911112222", desk.now() - timedelta(minutes=1), None, "threats", "lead")
    await desk.refresh()
    await desk.engine.dispose()
    desk.engine = async_engine(f"sqlite:///{tmp_path}/nothing-here.db")  # no tables: every query fails
    with capture_logs() as logs:
        await desk.refresh()
    assert any(e["event"] == "nuisance_refresh_failed" for e in logs)
    assert desk.check("13911112222") is not None and desk.health()["refresh_failures"] == 1


async def test_the_first_warning_records_the_call_as_evidence_and_every_warning_links_that_recording(desk, sqlite_url):
    path = "/var/spool/asterisk/monitor/pbx-bridge-evidence/nuisance-pbx1-1795471128.1.wav"
    first = await agi(desk, "nuisance_warn", channel=AGENT, replies=call_vars())
    assert f'SET VARIABLE PBXB_EVIDENCE_START "{path}"' in first, "the dialplan starts MixMonitor on this path"
    assert f'SET VARIABLE PBXB_EVIDENCE "{path}"' in first, "kept on the channel for the next code"
    second = await agi(desk, "nuisance_warn", channel=AGENT,
                       replies={**call_vars(), "GET VARIABLE PBXB_EVIDENCE": f"200 result=1 ({path})"})
    assert not any(c.startswith("SET VARIABLE PBXB_EVIDENCE") for c in second), "one recording per call"
    assert [(r.seq, r.recording) for r in desk.records] == [(1, path), (2, path)]
    writer = StoreWriter(desk.engine, kinds=record_kinds())
    for record in desk.records:
        writer.put(record)
    await writer.flush()
    rows = store.warning_rows(sync_engine(sqlite_url), "13911112222", None, None)
    assert [r["recording"] for r in rows] == [path, path], "linked from nuisance_warnings"
