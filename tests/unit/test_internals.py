"""Parts ask each other through methods, not by reaching into each other's fields (issue 13, the house)."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

from pbx_bridge.live.state import LiveState

PKG = Path(__file__).resolve().parents[2] / "pbx_bridge"


def test_the_live_state_hands_out_its_dirty_sets_and_takes_back_what_was_not_sent():
    state = LiveState(ZoneInfo("Asia/Shanghai"))
    state.dirty_queues |= {"sales"}
    state.dirty_agents |= {"PJSIP/1001"}
    queues, agents = state.take_dirty()
    assert (queues, agents) == ({"sales"}, {"PJSIP/1001"})
    assert state.take_dirty() == (set(), set())  # taken: none left marked
    state.dirty_queues.add("support")  # changed while the publish failed
    state.put_back_dirty(queues, agents)
    assert state.take_dirty() == ({"sales", "support"}, {"PJSIP/1001"})


def test_the_core_the_rooms_and_the_publisher_use_the_tracker_and_live_state_methods():
    core_and_rooms = [PKG / "core.py", PKG / "daemon.py", *PKG.glob("*/wiring.py")]
    for path in core_and_rooms:
        assert not re.search(r"tracker\.(active|event_ts)\b", path.read_text()), path
    assert not re.search(r"state\.dirty_(queues|agents)", (PKG / "live" / "mqtt.py").read_text())
