"""An agent's own SIP phone places calls (SIPp as agent301): the daemon counts them (日呼出量)."""

import time

import pytest
from sqlalchemy import select

from lab.sipp import sipp_call
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.calls.tables import outbound_calls
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab


def test_calls_an_agent_places_from_their_phone_are_recorded(lab, tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    daemon = DaemonProcess(tmp_path, url).start()
    time.sleep(1)  # QueueStatus after the connect: the daemon learns which phones are agents'
    for number in ("913900000031", "913900000032"):
        assert sipp_call(hold=2, to=number, from_user="agent301", caller_num="301", caller_name="Agent 301",
                         log_dir=str(tmp_path)) == 0
    daemon.wait_for("outbound_call_recorded", count=2, timeout=30)
    time.sleep(1)
    assert daemon.stop() == 0
    engine = sync_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(outbound_calls.c.agent, outbound_calls.c.number, outbound_calls.c.answered)).all()
    engine.dispose()
    assert sorted(rows) == [("Agent 301", "913900000031", True), ("Agent 301", "913900000032", True)]
