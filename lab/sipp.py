"""SIPp helpers: agent phones (UAS) and callers (UAC) against the lab Asterisk."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
# lab/conf/pjsip.conf: agent301 -> 127.0.0.1:5011, agent302 -> :5021, agent303 -> :5031
AGENT_PORTS = {"agent301": 5011, "agent302": 5021, "agent303": 5031}


def sipp_bin() -> str:
    b = shutil.which("sipp")
    if not b:
        raise RuntimeError("sipp not found: apt-get install sip-tester")
    return b


INFO_DTMF = """  <pause milliseconds="{pause_ms}"/>
  <send>
    <![CDATA[
      INFO [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_to];tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: {cseq} INFO
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160

    ]]>
  </send>
  <recv response="200"/>
"""


# A phone that presses keys keeps what its own requests inside the dialog need (SIPp refuses a
# variable that is set and never used, so only such a phone has this).
INVITE_KEPT = """  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="remote_contact"/>
    </action>
  </recv>
"""


def keys_xml(keys) -> str:
    """SIPp steps for `keys`: [(seconds after the previous step, "*7"), ...]; one INFO per key,
    120 ms apart within a sequence (well inside Asterisk's featuredigittimeout of 1 s)."""
    steps, cseq = [], 100
    for wait, sequence in keys:
        for i, key in enumerate(sequence):
            cseq += 1
            steps.append(INFO_DTMF.format(pause_ms=int(wait * 1000) if i == 0 else 120, cseq=cseq, key=key))
    return "".join(steps)


class SippAgent:
    """An agent's SIP phone: rings `ring` seconds, then answers; waits for the BYE.
    Serves up to `calls` calls (then exits). Use as a context manager or start()/stop().
    `keys`: after answering, press these (SIP INFO DTMF), e.g. [(3, "*7"), (4, "*7")]: 3 s after
    the answer *7, then 4 s later *7 again. Every call of this phone presses the same keys."""

    def __init__(self, name="agent301", ring: float = 2, calls: int = 100, port=None,
                 log_dir="/tmp", keys=()):
        self.name, self.ring, self.calls, self.keys = name, ring, calls, list(keys)
        self.port = port or AGENT_PORTS[name]
        self.log_dir = Path(log_dir)
        self.proc: subprocess.Popen | None = None

    def start(self):
        scenario = self.log_dir / f"sipp-{self.name}.xml"
        xml = (SIPP_DIR / "agent_uas.xml").read_text().replace("RING_MS", str(int(self.ring * 1000)))
        if self.keys:
            xml = xml.replace('  <recv request="INVITE" crlf="true"/>\n', INVITE_KEPT)
        scenario.write_text(xml.replace("  <!-- KEYS -->\n", keys_xml(self.keys)))
        self.proc = subprocess.Popen(
            [sipp_bin(), "-sf", str(scenario), "-i", "127.0.0.1",
             "-p", str(self.port), "-m", str(self.calls),
             "-nostdin", "-mp", str(self.port + 2000)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log_dir / f"sipp-{self.name}.err", "wb"),
            cwd=self.log_dir, start_new_session=True)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp {self.name} exited: "
                               f"{(self.log_dir / f'sipp-{self.name}.err').read_text()[-500:]}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def sipp_call(hold: float = 10, to: str = "4000", caller_num="13800138000",
              caller_name="SIPp Caller", port=5071, wait=True, log_dir="/tmp", from_user="caller"):
    """One SIPp caller (From user `caller` -> pjsip endpoint `caller` -> shipped
    (from_user="agent301": an agent's own phone placing a call, e.g. to 9<number>)
    [pbx-bridge-inbound] with PBXB_QUEUE=lab-sip) that stays `hold` s after being answered
    by the PBX, then hangs up. Caller ID via P-Asserted-Identity. wait=True returns the
    exit code (0 = call completed), else the Popen."""
    p = subprocess.Popen(
        [sipp_bin(), "127.0.0.1:5060", "-sf", str(SIPP_DIR / "caller_uac.xml"),
         "-i", "127.0.0.1", "-p", str(port), "-mp", str(port + 2000), "-s", to, "-m", "1",
         "-d", str(int(hold * 1000)), "-nostdin",
         "-set", "cidnum", caller_num, "-set", "cidname", caller_name, "-set", "fromuser", from_user],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(Path(log_dir) / "sipp-caller.err", "wb"), cwd=log_dir,
        start_new_session=True)
    if not wait:
        return p
    return p.wait(hold + 60)


_INFO = """  <pause milliseconds="{pause}"/>
  <send>
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[$fromuser]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: sip:[$fromuser]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160

    ]]>
  </send>
  <recv response="200"/>
"""


def menu_scenario(keys: str) -> str:
    """A phone dialling a feature code and keying digits (SIP INFO, application/dtmf-relay).

    keys: groups "wait_ms:digits" separated by commas, e.g. "1500:0301#,1500:739182#" -- each
    group waits, then sends its digits 250 ms apart. The menu (AGI) discards digits that come
    between its prompts, so the waits must let each prompt start. Then waits for the PBX's BYE.
    """
    template = (SIPP_DIR / "phone_menu_uac.xml").read_text()
    steps, cseq = [], 2
    for group in filter(None, keys.split(",")):
        wait, _, digits = group.partition(":")
        for i, digit in enumerate(digits):
            steps.append(_INFO.format(pause=int(wait) if i == 0 else 250, cseq=cseq, digit=digit))
            cseq += 1
    return template.replace("<!-- KEYS -->", "".join(steps))


def sipp_menu(code: str, keys: str = "", from_user: str = "agent301", port=5081, timeout: float = 60,
              log_dir="/tmp") -> int:
    """Dial `code` (e.g. *81) from the agent phone `from_user`, key `keys`, wait for the PBX to hang
    up. Returns SIPp's exit code (0 = the scenario ran to its end)."""
    scenario = Path(log_dir) / f"sipp-menu-{from_user}.xml"
    scenario.write_text(menu_scenario(keys))
    p = subprocess.run(
        [sipp_bin(), "127.0.0.1:5060", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
         "-mp", str(port + 2000), "-s", code, "-m", "1", "-nostdin", "-set", "fromuser", from_user,
         "-timeout", str(int(timeout)), "-timeout_error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(Path(log_dir) / "sipp-menu.err", "wb"), cwd=log_dir, timeout=timeout + 10)
    return p.returncode
