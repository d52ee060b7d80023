"""Asterisk's side of AGI, for classic scripts over pipes and for FastAGI over TCP.

Faithful to Asterisk 22's res_agi where the script can tell the difference:
- the environment block: for FastAGI `agi_network` and `agi_network_script` first, then the
  channel's `agi_*` lines in Asterisk's order, the `agi_arg_N` lines, and a blank line;
- replies: `SET VARIABLE` and `VERBOSE` answer `200 result=1`, other known commands
  `200 result=0`, an unknown command `510 Invalid or unknown command`;
- a hangup: the `HANGUP` notice, sent before the reply to the command Asterisk reads next; from
  then on the channel is dead: commands not marked dead-safe in res_agi answer 511, and `EXEC`
  answers `200 result=-1`. A classic script is told by SIGHUP instead (`on_hangup`).

One `AgiPeer` holds the scripting logic (no I/O); `talk_pipes` drives it over a subprocess's
pipes, `talk` over asyncio streams (TCP, or `asyncio.create_subprocess_exec` pipes).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Callable

# The lab's FastAGI secret (lab/conf/pbx_bridge_agi_secret.conf); unit tests' servers use it too.
AGI_SECRET = "pbx-lab-agi-secret"
NOT_PERMITTED = "511 Command Not Permitted on a dead channel or intercepted"
INVALID = "510 Invalid or unknown command"

# res_agi.c's command table (Asterisk 22); True: allowed on a dead channel.
COMMANDS: dict[tuple[str, ...], bool] = {
    ("answer",): False, ("asyncagi", "break"): True, ("channel", "status"): False,
    ("database", "del"): True, ("database", "deltree"): True, ("database", "get"): True,
    ("database", "put"): True, ("exec",): True, ("get", "data"): False,
    ("get", "full", "variable"): True, ("get", "option"): False, ("get", "variable"): True,
    ("hangup",): False, ("noop",): True, ("receive", "char"): False, ("receive", "text"): False,
    ("record", "file"): False, ("say", "alpha"): False, ("say", "digits"): False,
    ("say", "number"): False, ("say", "phonetic"): False, ("say", "date"): False,
    ("say", "time"): False, ("say", "datetime"): False, ("send", "image"): False,
    ("send", "text"): False, ("set", "autohangup"): False, ("set", "callerid"): False,
    ("set", "context"): False, ("set", "extension"): False, ("set", "music"): False,
    ("set", "priority"): False, ("set", "variable"): True, ("stream", "file"): False,
    ("control", "stream", "file"): False, ("tdd", "mode"): False, ("verbose",): True,
    ("wait", "for", "digit"): False, ("gosub",): False,
}
_RESULT_1 = {("set", "variable"), ("verbose",)}


def _known(command: str) -> tuple[str, ...] | None:
    words = tuple(command.lower().split())
    for size in (3, 2, 1):
        if words[:size] in COMMANDS:
            return words[:size]
    return None


@dataclass
class AgiPeer:
    """One AGI session as Asterisk would run it.

    `replies`: scripted answers, keyed by the command's 1-based position or by a prefix of the
    command (case-insensitive), e.g. `{2: "200 result=-1"}` or `{"EXEC Wait": NOT_PERMITTED}`.
    `hangup_at`: the caller hangs up just before Asterisk reads this (1-based) command.
    """

    args: list[str] = field(default_factory=list)
    network_script: str | None = None  # set: a FastAGI session
    request: str = "/usr/share/pbx-bridge/agi/ring_twice.py"
    channel: str = "PJSIP/trunk-00000001"
    uniqueid: str = "1700000000.1"
    caller_num: str = "13800138000"
    caller_name: str = "张三丰"
    replies: dict[int | str, str] = field(default_factory=dict)
    hangup_at: int | None = None
    on_hangup: Callable[[], None] | None = None  # classic: e.g. send SIGHUP; None: the HANGUP line
    commands: list[str] = field(default_factory=list)
    dead: bool = False

    @classmethod
    def fastagi(cls, script: str, args: list[str], host: str = "127.0.0.1", port: int = 4573,
                secret: str | None = AGI_SECRET, **kw) -> "AgiPeer":
        """As the shipped dialplan calls it: `agi://host:port/script?auth=<secret>` (secret None: bare)."""
        if secret is not None:
            script = f"{script}?auth={secret}"
        return cls(args=args, network_script=script, request=f"agi://{host}:{port}/{script}", **kw)

    def header(self) -> bytes:
        lines = []
        if self.network_script is not None:
            lines += ["agi_network: yes", f"agi_network_script: {self.network_script}"]
        lines += [
            f"agi_request: {self.request}", f"agi_channel: {self.channel}", "agi_language: en",
            f"agi_type: {self.channel.split('/')[0]}", f"agi_uniqueid: {self.uniqueid}",
            "agi_version: 22.5.2", f"agi_callerid: {self.caller_num}", f"agi_calleridname: {self.caller_name}",
            "agi_callingpres: 0", "agi_callingani2: 0", "agi_callington: 0", "agi_callingtns: 0",
            "agi_dnid: 4000", "agi_rdnis: unknown", "agi_context: pbx-bridge-inbound", "agi_extension: s",
            "agi_priority: 2", "agi_enhanced: 0.0", "agi_accountcode: ", "agi_threadid: 140000000000000",
        ]
        lines += [f"agi_arg_{i}: {arg}" for i, arg in enumerate(self.args, 1)]
        return ("\n".join(lines) + "\n\n").encode()

    def answer(self, raw: bytes) -> bytes:
        """What Asterisk writes back for one command line from the script."""
        command = raw.decode("utf-8", "replace").rstrip("\r\n")
        self.commands.append(command)
        position = len(self.commands)
        out = ""
        if position == self.hangup_at and not self.dead:
            self.dead = True
            if self.on_hangup is not None:
                self.on_hangup()
            else:
                out += "HANGUP\n"
        return (out + self._reply(command, position) + "\n").encode()

    def _reply(self, command: str, position: int) -> str:
        if position in self.replies:
            return self.replies[position]
        for key, reply in self.replies.items():
            if isinstance(key, str) and command.lower().startswith(key.lower()):
                return reply
        known = _known(command)
        if known is None:
            return INVALID
        if self.dead and not COMMANDS[known]:
            return NOT_PERMITTED
        if self.dead and known == ("exec",):
            return "200 result=-1"
        return "200 result=1" if known in _RESULT_1 else "200 result=0"

    # Drivers -------------------------------------------------------------------------------

    def talk_pipes(self, proc: subprocess.Popen, timeout: float = 10.0) -> list[str]:
        """Run the session over a classic script's stdin/stdout until the script closes stdout."""
        timer = threading.Timer(timeout, proc.kill)  # a script stuck on a read must not hang the tests
        timer.start()
        try:
            try:
                proc.stdin.write(self.header())
                proc.stdin.flush()
                while line := proc.stdout.readline():
                    proc.stdin.write(self.answer(line))
                    proc.stdin.flush()
            except BrokenPipeError:
                pass  # the script exited without reading its last reply: allowed
            finally:
                for pipe in (proc.stdin, proc.stdout):
                    try:
                        pipe.close()
                    except BrokenPipeError:
                        pass
            proc.wait()
        finally:
            timer.cancel()
        return self.commands

    async def talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[str]:
        """Run the session over asyncio streams until the script closes its side."""
        try:
            writer.write(self.header())
            await writer.drain()
            while line := await reader.readline():
                writer.write(self.answer(line))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
        return self.commands

    async def call_fastagi(self, host: str, port: int) -> list[str]:
        reader, writer = await asyncio.open_connection(host, port)
        return await self.talk(reader, writer)
