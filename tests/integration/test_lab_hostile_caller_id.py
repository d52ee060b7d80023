"""A voicemail left with a hostile caller ID, played and "called back" by the duty agent in the lab.

The caller ID names another context, a second channel and a Dial option running a subroutine.
The daemon must treat it as a message with no number; a normal number left beside it is still
called back. What Asterisk ran and dialled is read from its own AGIExecStart and DialBegin events.

(Before the fix the daemon ran `EXEC Dial Local/00900123@from-internal/n,30,U(evil^s^1)&Local/1@...`:
Asterisk read the caller's `U(...)`, `p`, `b`, ... as Dial options and started privacy screening
on the agent's line; the lab's messages.log shows it.)
"""

import re
import shutil
import time
from datetime import datetime, timedelta

import pytest

from tests.integration.test_lab_voicemail import TZ, inbox, leave_message, rota_yaml, wait_until
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

HOSTILE = "00900123@from-internal/n,30,U(evil^s^1)&Local/1"
NORMAL = "13900000021"
CALLBACK = re.compile(r"Local/\+?[0-9]+@pbx-bridge-callback(-[0-9a-f]+;[12])?")


def test_voicemail_callback_never_dials_outside_the_callback_context(lab, lab_ami, tmp_path):
    spool = lab.root / "var/spool/asterisk/voicemail/default"
    for box in ("8001", "8002"):
        shutil.rmtree(spool / box, ignore_errors=True)
    # jingan's duty agent (212) presses 1 on the hostile message, then 4; baoshan's (213) 1 on the normal one
    for ext, keys in (("211", "3/4"), ("212", "3/1,8/4"), ("213", "3/1"), ("214", "3/4")):
        for key, value in (("mode", "answer"), ("ring", "1"), ("keys", keys)):
            lab_ami.action("DBPut", Family="lab", Key=f"{ext}/{key}", Val=value)
    leave_message(lab_ami, "8001", HOSTILE, "x")
    leave_message(lab_ami, "8002", NORMAL, "正常")
    wait_until(lambda: len(inbox(lab, "8001")) == 1 and len(inbox(lab, "8002")) == 1, 30, "two messages")
    message = spool / "8001/INBOX/msg0000.txt"
    left = message.read_text(encoding="utf-8")
    # Asterisk's Originate drops ( ) - from the number but keeps @ / , ^ &: still another context,
    # options and a second channel. Then the exact caller ID of the report, as app_voicemail writes it.
    assert 'callerid="x" <00900123@frominternal/n,30,Uevil^s^1&Local/1>' in left, left
    message.write_text(re.sub(r"(?m)^callerid=.*$", lambda _: f'callerid="x" <{HOSTILE}>', left), encoding="utf-8")

    now = datetime.now(TZ)
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml((now + timedelta(seconds=10)).strftime("%H:%M:%S"), now.date()), encoding="utf-8")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", voicemail={
        "enabled": True, "rota": str(rota), "spool_dir": str(lab.root / "var/spool/asterisk/voicemail"),
        "asterisk_spool_dir": "/var/spool/asterisk/voicemail", "retry_minutes": 0.05})
    lab_ami.events.clear()
    daemon.start()
    try:
        daemon.wait_for("voicemail_playback_ended", count=2, timeout=120)
        time.sleep(1)
        lab_ami.pump(1)
    finally:
        assert daemon.stop() == 0
    # What the daemon asked Asterisk to run, as Asterisk saw it (AGIExecStart): only the normal number's Dial
    executed = [e.get("Command", "") for e in lab_ami.events if e.get("Event") == "AGIExecStart"]
    assert executed, "the AGI commands were seen"
    assert [c for c in executed if c.startswith("EXEC")] == [f"EXEC Dial Local/{NORMAL}@pbx-bridge-callback/n,30,g"]
    dials = [e for e in lab_ami.events if e.get("Event") == "DialBegin"]
    # Dialled from a channel (the playback's Dial), not by an Originate (the duty agents, the messages)
    called_back = [e.get("DestChannel", "") for e in dials if e.get("Channel")]
    for event in dials:  # where each Dial went (the caller ID fields may show the hostile text: it is data)
        where = " ".join(str(event.get(k, "")) for k in ("DestChannel", "DialString", "DestContext", "DestExten"))
        assert "internal" not in where and "evil" not in where and "00900123" not in where, event
    assert called_back and all(CALLBACK.fullmatch(c) for c in called_back), called_back
    # only the normal number: no second channel (`&Local/1`) from the hostile caller ID either
    assert {c.split("/")[1].split("@")[0] for c in called_back} == {NORMAL}, called_back
    refused = [line for line in daemon.lines() if line.get("event") == "caller_number_refused"]
    assert refused and refused[0]["source"] == "voicemail" and "@from-internal" in refused[0]["raw"]
    dialling = [line["number"] for line in daemon.lines() if line.get("event") == "voicemail_callback_dialling"]
    assert dialling == [NORMAL]
