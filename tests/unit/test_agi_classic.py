"""Ring-twice as a classic AGI script: the real script as a subprocess, Asterisk played by AgiPeer."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from asterisk import agi as stock

from pbx_bridge.agi.pyst2_compat import AGI, AGIHangup
from tests.support.agi_peer import NOT_PERMITTED, AgiPeer

SCRIPT = Path(__file__).resolve().parents[2] / "agi_scripts" / "ring_twice.py"
HEADER = "agi_request: ring_twice.py\nagi_channel: PJSIP/trunk-00000001\nagi_arg_1: agent\n\n"


def config(tmp_path, ring: str = "", extra: str = "") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"ami:\n  host: 127.0.0.1\n{extra}{ring}", encoding="utf-8")
    return str(path)


def ring(cadence: str, two_rings: str) -> str:
    return f"ring:\n  cadence: {cadence}\n  two_rings: {two_rings}\n"


def run_script(peer: AgiPeer, role: str | None, config_path: str, **env) -> tuple[list[str], int, str]:
    argv = [sys.executable, str(SCRIPT)] + ([role] if role is not None else [])
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PBX_BRIDGE_AMI_SECRET": "x", "PBX_BRIDGE_CONFIG": config_path, **env},
    )
    if role is not None:
        peer.args = [role]
    commands = peer.talk_pipes(proc)
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    return commands, proc.returncode, stderr


# The plan, end to end ------------------------------------------------------------------------

PLANS = [  # cadence, two_rings, seconds that make two rings
    ("cn", "end_of_second_ring", 6),
    ("cn", "two_full_cycles", 10),
    ("us", "end_of_second_ring", 8),
    ("us", "two_full_cycles", 12),
]


@pytest.mark.parametrize(("cadence", "two_rings", "seconds"), PLANS)
def test_inbound_caller_hears_two_rings_before_the_center_answers(tmp_path, cadence, two_rings, seconds):
    commands, code, stderr = run_script(AgiPeer(), "inbound", config(tmp_path, ring(cadence, two_rings)))
    assert commands == ["EXEC Ringing", f"EXEC Wait {seconds}", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert (code, stderr) == (0, "")


@pytest.mark.parametrize(("cadence", "two_rings", "seconds"), PLANS)
def test_agent_phone_rings_two_rings_at_most(tmp_path, cadence, two_rings, seconds):
    commands, code, stderr = run_script(AgiPeer(), "agent", config(tmp_path, ring(cadence, two_rings)))
    assert commands == [f"SET VARIABLE PBXB_RING_TIMEOUT {seconds}", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert (code, stderr) == (0, "")


def test_a_custom_cadence_rounds_the_agent_timeout_up(tmp_path):
    custom = "ring:\n  cadence: {on_ms: 1500, off_ms: 3200}\n  two_rings: end_of_second_ring\n"
    commands, code, _ = run_script(AgiPeer(), "agent", config(tmp_path, custom))
    assert commands[0] == "SET VARIABLE PBXB_RING_TIMEOUT 7"  # 4.7 + 1.5 = 6.2 s: never cut the ring short
    assert code == 0


# Hangups: always exit 0, never a traceback ---------------------------------------------------

def test_hangup_notice_mid_plan_ends_the_script_quietly(tmp_path):
    commands, code, stderr = run_script(AgiPeer(hangup_at=2), "inbound", config(tmp_path))
    assert commands == ["EXEC Ringing", "EXEC Wait 6"]
    assert (code, stderr) == (0, "")


def test_sighup_mid_plan_ends_the_script_quietly(tmp_path):
    # How Asterisk really tells a classic script: SIGHUP, then the reply (EXEC on a dead channel: -1).
    peer = AgiPeer(hangup_at=1)
    proc_holder = {}
    peer.on_hangup = lambda: proc_holder["proc"].send_signal(signal.SIGHUP)
    argv = [sys.executable, str(SCRIPT), "inbound"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PBX_BRIDGE_CONFIG": config(tmp_path)})
    proc_holder["proc"] = proc
    peer.args = ["inbound"]
    commands = peer.talk_pipes(proc)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert commands == ["EXEC Ringing"]
    assert (proc.returncode, stderr) == (0, "")


def test_caller_hanging_up_during_the_wait_ends_the_script_quietly(tmp_path):
    peer = AgiPeer(replies={"EXEC Wait": "200 result=-1"})
    commands, code, stderr = run_script(peer, "inbound", config(tmp_path))
    assert commands == ["EXEC Ringing", "EXEC Wait 6"]  # PBXB_RING_TWICE=ok is not claimed
    assert (code, stderr) == (0, "")


def test_a_511_reply_ends_the_script_quietly(tmp_path):
    peer = AgiPeer(replies={1: NOT_PERMITTED})
    commands, code, stderr = run_script(peer, "agent", config(tmp_path))
    assert commands == ["SET VARIABLE PBXB_RING_TIMEOUT 6"]
    assert (code, stderr) == (0, "")


def test_asterisk_closing_the_pipe_ends_the_script_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "agent"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PBX_BRIDGE_CONFIG": config(tmp_path)})
    _, stderr = proc.communicate(AgiPeer(args=["agent"]).header(), timeout=10)
    assert (proc.returncode, stderr.decode()) == (0, "")


# Mistakes in the dialplan or the config: the call goes on --------------------------------------

def test_unknown_role_is_reported_and_flagged_and_the_call_goes_on(tmp_path):
    commands, code, stderr = run_script(AgiPeer(), "agnet", config(tmp_path))
    assert len(commands) == 2
    assert commands[0].startswith('VERBOSE "pbx-bridge ring_twice: unknown ring_twice role \'agnet\'')
    assert commands[1] == 'SET VARIABLE "PBXB_RING_TWICE" "error"'
    assert code == 0 and "agnet" in stderr and "Traceback" not in stderr


def test_missing_role_is_an_unknown_role(tmp_path):
    commands, code, _ = run_script(AgiPeer(), None, config(tmp_path))
    assert commands[-1] == 'SET VARIABLE "PBXB_RING_TWICE" "error"' and code == 0


def test_missing_config_falls_back_to_the_packaged_defaults_and_says_so(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    commands, code, stderr = run_script(AgiPeer(), "agent", missing)
    assert commands[0].startswith(f'VERBOSE "pbx-bridge ring_twice: config error: {missing}: cannot read')
    assert "packaged ring defaults" in commands[0]
    assert commands[1:] == ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert code == 0 and "packaged ring defaults" in stderr


def test_invalid_config_falls_back_to_the_packaged_defaults_and_names_the_line(tmp_path):
    path = config(tmp_path, "ring:\n  cadence: uk\n  two_rings: two_full_cycles\n")
    commands, code, _ = run_script(AgiPeer(), "agent", path)
    assert commands[0].startswith(f'VERBOSE "pbx-bridge ring_twice: config error: {path}:4: ring.cadence')
    assert commands[1:] == ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert code == 0


def test_an_ami_secret_file_the_script_cannot_read_does_not_hide_the_ring_settings(tmp_path):
    path = config(tmp_path, ring("us", "two_full_cycles"), extra="  secret_file: /nonexistent/secret\n")
    commands, code, stderr = run_script(AgiPeer(), "agent", path, PBX_BRIDGE_AMI_SECRET="")
    assert commands == ["SET VARIABLE PBXB_RING_TIMEOUT 12", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert (code, stderr) == (0, "")


def test_a_utf8_caller_name_is_read_whatever_the_locale(tmp_path):
    commands, code, stderr = run_script(AgiPeer(caller_name="张三丰"), "agent", config(tmp_path),
                                        PYTHONIOENCODING="ascii", LC_ALL="C")
    assert commands == ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
    assert (code, stderr) == (0, "")


# The adapter: why it exists, and what it does instead ----------------------------------------

@pytest.fixture
def keep_sighup():
    """pyst2 installs a SIGHUP handler in the test process; put the old one back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def stock_agi(replies: str) -> stock.AGI:
    return stock.AGI(stdin=io.StringIO(HEADER + replies), stdout=io.StringIO(), stderr=io.StringIO())


def our_agi(replies: str, out: io.StringIO | None = None) -> AGI:
    return AGI(stdin=io.StringIO(HEADER + replies), stdout=out or io.StringIO())


@pytest.mark.parametrize(("replies", "error"), [
    ("HANGUP\n", ValueError),                 # int('') on the notice (agi.py l.180)
    ("", ValueError),                          # the same on end of input
    (NOT_PERMITTED + "\n", stock.AGIUnknownError),  # 511 is an "unhandled code" (l.211)
    ("100 result=0 Trying...\n200 result=0\n", stock.AGIUnknownError),
])
def test_stock_pyst2_crashes_on_what_asterisk_sends_at_hangup(keep_sighup, replies, error):
    agi = stock_agi(replies)
    with pytest.raises(error) as caught:
        agi.execute("EXEC Wait 6")
    assert not isinstance(caught.value, stock.AGIHangup)


def test_stock_pyst2_does_not_call_result_minus_one_a_hangup(keep_sighup):
    with pytest.raises(stock.AGIAppError) as caught:
        stock_agi("200 result=-1\n").execute("EXEC Wait 6")
    assert not isinstance(caught.value, stock.AGIHangup)


def test_stock_pyst2_traces_the_caller_to_stderr(keep_sighup):
    trace = io.StringIO()
    stock.AGI(stdin=io.StringIO("agi_callerid: 13800138000\n\n"), stdout=io.StringIO(), stderr=trace)
    assert "13800138000" in trace.getvalue()


@pytest.mark.parametrize("replies", ["HANGUP\n200 result=0\n", "", NOT_PERMITTED + "\n", "200 result=-1\n",
                                     "200 result=0 (hangup)\n"])
def test_adapter_turns_every_hangup_signal_into_agihangup(keep_sighup, replies):
    with pytest.raises(AGIHangup):
        our_agi(replies).execute("EXEC Wait 6")


def test_adapter_sends_nothing_more_after_a_hangup_notice(keep_sighup):
    out = io.StringIO()
    agi = our_agi("HANGUP\n200 result=0\n", out)
    with pytest.raises(AGIHangup):
        agi.execute("EXEC Wait 6")
    with pytest.raises(AGIHangup):
        agi.execute("SET VARIABLE PBXB_RING_TWICE ok")
    assert out.getvalue() == "EXEC Wait 6\n"


def test_adapter_reads_results_like_pyst2(keep_sighup):
    agi = our_agi("100 result=0 Trying...\n200 result=0 Gosub complete\n200 result=1\n")
    assert agi.execute("GOSUB sub s 1")["result"] == ("0", "")
    assert agi.execute("SET VARIABLE A b")["result"] == ("1", "")
    assert agi.env["agi_arg_1"] == "agent"


def test_adapter_keeps_real_errors_errors(keep_sighup):
    with pytest.raises(stock.AGIInvalidCommand):
        our_agi("510 Invalid or unknown command\n").execute("FROB")


def test_adapter_quotes_values_so_they_stay_one_argument_on_one_line(keep_sighup):
    out = io.StringIO()
    our_agi("200 result=1\n", out).verbose('bad "key"\nEXEC Hangup \\o/', 1)
    assert out.getvalue() == 'VERBOSE "bad \\"key\\" EXEC Hangup \\\\o/" 1\n'


def test_adapter_traces_nothing(keep_sighup, capsys):
    our_agi("200 result=1\n").execute("NOOP")
    assert capsys.readouterr() == ("", "")
