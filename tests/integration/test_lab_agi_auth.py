"""FastAGI authentication in the lab: the shipped dialplan sends the secret it reads from the
[globals] include (lab/conf/pbx_bridge_agi_secret.conf), so real calls are served; a local process
that connects to the daemon's FastAGI port without it is refused, counted, and stores nothing."""

import asyncio

import pytest
from sqlalchemy import func, select

from lab import traffic
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.callbacks.tables import callback_requests
from tests.support.agi_peer import AGI_SECRET, AgiPeer
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab


def stored_requests(url) -> int:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(callback_requests)).scalar_one()
    finally:
        engine.dispose()


def test_the_dialplan_is_served_and_a_forged_local_session_is_refused(lab, tmp_path):
    assert lab.agi_secret == AGI_SECRET
    url = f"sqlite:///{tmp_path}/store.db"
    daemon = DaemonProcess(tmp_path, url).start()
    daemon.wait_for("fastagi_listening")

    # Asterisk's own session: the secret rides in the URL from ${PBXB_AGI_SECRET}.
    with lab.ami() as ami:
        tracker = traffic.Tracker(ami)
        call = traffic.originate(ami, queue="support", hold=2, maxwait=5, caller_num="13900000077")
        tracker.wait([call], timeout=60)
    applied = daemon.wait_for("ring_twice_applied")
    assert "inbound" in [line["role"] for line in applied]

    # Any local user: a call-back request for a made-up call, with no secret and with a guess.
    async def forge(secret):
        peer = AgiPeer.fastagi("callback_request", ["support", "1"], port=4573, secret=secret,
                               uniqueid="1700000000.999", caller_num="13000000000",
                               replies={"GET VARIABLE PBXB_MAXWAIT": "200 result=1 (600)"})
        async with asyncio.timeout(10):
            return await peer.call_fastagi("127.0.0.1", 4573)

    assert asyncio.run(forge(None)) == [], "refused: not one command was sent"
    assert asyncio.run(forge("a-guess-of-the-secret")) == []
    refused = daemon.wait_for("fastagi_unauthenticated", count=2)
    assert [(r["agi_script"], r["reason"], r["unauthenticated"]) for r in refused] == [
        ("callback_request", "no secret", 1), ("callback_request", "wrong secret", 2)]
    assert not [line for line in daemon.lines() if line.get("event") in ("callback_requested", "callback_request_refused")]
    assert stored_requests(url) == 0
    assert daemon.stop() == 0
    assert AGI_SECRET not in daemon.log_path.read_text(), "the secret never reaches the log"
