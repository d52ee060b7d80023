"""Ring-twice: cadence arithmetic, the N-misses pause, and the compliance report."""

import asyncio
import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from pbx_bridge.cli import cli
from pbx_bridge.ring import Cadence, RingConfig, rings_for, two_rings_s
from pbx_bridge.ring_twice.plan import UnknownRole, plan
from pbx_bridge.ring_twice.rule import RingTwiceRule
from pbx_bridge.store.engine import async_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer

CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


@pytest.mark.parametrize("cadence, two_rings, seconds", [
    ("cn", "end_of_second_ring", 6.0), ("cn", "two_full_cycles", 10.0),
    ("us", "end_of_second_ring", 8.0), ("us", "two_full_cycles", 12.0),
    (Cadence(on_ms=400, off_ms=200), "end_of_second_ring", 1.0),
])
def test_two_rings_in_seconds_follows_the_cadence(cadence, two_rings, seconds):
    assert two_rings_s(RingConfig(cadence=cadence, two_rings=two_rings)) == pytest.approx(seconds)


@pytest.mark.parametrize("ring_s, rings", [(0, 0), (0.5, 1), (4.99, 1), (5.0, 2), (6.0, 2), (9.9, 2), (10.2, 3)])
def test_rings_counted_from_ring_time_with_the_china_cadence(ring_s, rings):
    assert rings_for(ring_s, CN) == rings


def test_agent_leg_dial_timeout_never_cuts_the_second_ring_short():
    us = RingConfig(cadence=Cadence(on_ms=1500, off_ms=3000), two_rings="end_of_second_ring")  # 6.0 s
    assert plan("agent", us)[0] == "SET VARIABLE PBXB_RING_TIMEOUT 6"
    odd = RingConfig(cadence=Cadence(on_ms=1200, off_ms=3000), two_rings="end_of_second_ring")  # 5.4 s
    assert plan("agent", odd)[0] == "SET VARIABLE PBXB_RING_TIMEOUT 6"
    with pytest.raises(UnknownRole):
        plan("supervisor", CN)


async def test_two_misses_in_a_row_pause_the_agent_once():
    paused = []

    async def pause(interface, reason):
        paused.append((interface, reason))

    notices = []
    rule = RingTwiceRule(2, pause, [notices.append])
    task = asyncio.create_task(rule.run())
    for result in ("no-answer", "answered", "no-answer", "caller-left", "no-answer", "busy"):
        rule.on_offer(make_offer(result=result, interface="Local/agent303@pbx-bridge-agents/n"))
    await asyncio.sleep(0.05)
    assert paused == [("Local/agent303@pbx-bridge-agents/n", "ring-no-answer")]
    assert notices[0]["type"] == "ring-twice-pause" and notices[0]["misses"] == 2
    task.cancel()


async def test_misses_of_different_agents_do_not_add_up():
    paused = []

    async def pause(interface, reason):
        paused.append(interface)

    rule = RingTwiceRule(2, pause)
    task = asyncio.create_task(rule.run())
    rule.on_offer(make_offer(result="no-answer", interface="A"))
    rule.on_offer(make_offer(result="no-answer", interface="B"))
    await asyncio.sleep(0.05)
    assert paused == []
    task.cancel()


async def test_a_failed_pause_is_reported_and_the_rule_keeps_working():
    async def pause(interface, reason):
        raise ConnectionError("AMI down")

    rule = RingTwiceRule(1, pause)
    task = asyncio.create_task(rule.run())
    rule.on_offer(make_offer(result="no-answer"))
    rule.on_offer(make_offer(result="no-answer"))
    await asyncio.sleep(0.05)
    assert rule.failed == 2 and not task.done()
    task.cancel()


async def test_compliance_report_per_agent_and_day(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    upgrade(url)
    at = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    records = [
        make_offer("c1", "o1", agent="Agent 301", ring_s=2.0, rings=1, result="answered", offered_at=at),
        make_offer("c2", "o2", agent="Agent 302", ring_s=5.5, rings=2, result="answered", offered_at=at),
        make_offer("c3", "o3", agent="Agent 303", ring_s=6.0, rings=2, result="no-answer", offered_at=at),
        make_offer("c4", "o4", agent="Agent 303", ring_s=6.0, rings=2, result="no-answer", offered_at=at),
        make_offer("c5", "o5", agent="Agent 303", ring_s=1.0, rings=1, result="caller-left", offered_at=at),
        make_offer("c6", "o6", agent="Agent 302", ring_s=9.0, rings=2, result="answered", offered_at=at),
        make_call("c2", agent="Agent 302", ended_by="agent", joined_at=at),
        make_call("c6", agent="Agent 302", ended_by="caller", joined_at=at),
    ]
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()
    config = tmp_path / "c.yaml"
    config.write_text(f"ami:\n  host: h\nstore:\n  url: {url}\n")
    result = CliRunner().invoke(cli, ["report", "ring-twice", "-c", str(config), "--from", "2026-11-23", "--to",
                                      "2026-11-23", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["agent"]: r for r in json.loads(result.output)}
    assert rows["Agent 301"]["share_within_two_rings"] == 1.0
    assert rows["Agent 302"]["offers"] == 2 and rows["Agent 302"]["share_within_two_rings"] == 0.5
    assert rows["Agent 302"]["agent_ended_first"] == 1
    assert rows["Agent 303"]["offers"] == 2 and rows["Agent 303"]["missed"] == 2
    assert rows["Agent 303"]["share_within_two_rings"] == 0.0
    assert rows["Agent 303"]["rings_per_offer"] == 2.0
    table = CliRunner().invoke(cli, ["report", "ring-twice", "-c", str(config), "--from", "2026-11-23", "--to",
                                     "2026-11-23"])
    assert "Agent 303" in table.output and "two rings = 6 s" in table.output
