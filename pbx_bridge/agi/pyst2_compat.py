"""pyst2's `asterisk.agi.AGI`, made safe for classic AGI scripts under Python 3.11 and Asterisk 22.

A classic AGI script must end quietly when the caller hangs up: a traceback is noise in the
Asterisk log, and a script stuck on a stale reply keeps a dead channel busy. pyst2 0.5.1 gets
several of these wrong (line numbers are `asterisk/agi.py` in pyst2 0.5.1):

- `get_result` (l.173-180) runs `int('')` on any line that does not start with digits, so the
  `HANGUP` notice and end of input (Asterisk closed the pipe) raise `ValueError`.
- `get_result` (l.210-211) turns `511 Command Not Permitted on a dead channel` into
  `AGIUnknownError`, and so also `100 result=0 Trying...` (GOSUB's first line).
- `get_result` (l.190-191) raises plain `AGIAppError` for `200 result=-1`, which is what an
  application returns when the caller hangs up during it (`EXEC Wait`).
- `_quote` (l.125-134) escapes nothing: a `"` or backslash breaks Asterisk's argument parsing and
  a newline in a value starts a second command.
- `__init__` (l.93) binds `sys.stdin`/`sys.stdout` when pyst2 is imported, in the locale's
  encoding with strict errors: a caller name that is not valid there raises `UnicodeDecodeError`.
- `__init__` (l.99-123), `send_command` (l.165) and `get_result` (l.176, 193) trace every line,
  the caller's number and name included, to stderr, which Asterisk logs as errors.
- `__init__` (l.98) calls `signal.signal`, which raises `ValueError` outside the main thread.

What pyst2 does well is kept: SIGHUP (how Asterisk tells a classic script of the hangup) sets a
flag and the next command raises `AGISIGHUPHangup`; a broken pipe raises `AGISIGPIPEHangup`.
"""

from __future__ import annotations

import io
import signal
import sys
import threading

from asterisk import agi as _pyst2
from asterisk.agi import AGIAppError, AGIHangup, AGIResultHangup

__all__ = ["AGI", "AGIHangup"]

# Asterisk's parser (res_agi.c parse_args) honours backslash escapes inside double quotes.
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": " ", "\r": " "})


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class _Lines:
    """stdin with room to put one line back, so pyst2's own parser still reads every reply."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.back: list[str] = []

    def readline(self) -> str:
        return self.back.pop() if self.back else self.stream.readline()


class AGI(_pyst2.AGI):
    def __init__(self, stdin=None, stdout=None, trace=None) -> None:
        # pyst2's __init__ is not called: its defaults, its trace and its signal call are the problem.
        if stdin is None:
            stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="replace", closefd=False)
        if stdout is None:
            stdout = open(sys.stdout.fileno(), "w", encoding="utf-8", errors="replace", closefd=False)
        self.stdin = _Lines(stdin)
        self.stdout = stdout
        self.stderr = trace if trace is not None else _Discard()
        self._got_sighup = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, self._handle_sighup)
        self.env = {}
        self._get_agi_env()

    def _quote(self, string) -> str:
        return '"' + str(string).translate(_ESCAPES) + '"'

    def get_result(self, stdin=None):
        line = self.stdin.readline()
        while line.startswith("100"):
            line = self.stdin.readline()
        if not line:
            raise AGIHangup("Asterisk closed the AGI channel")
        if line.strip() == "HANGUP":
            # The reply to our command follows; we will not read it, so refuse further commands
            # the way pyst2 does after SIGHUP rather than read that stale reply as the next one's.
            self._got_sighup = True
            raise AGIHangup("HANGUP notice from Asterisk")
        if line.startswith("511"):
            raise AGIHangup(line.strip())
        self.stdin.back.append(line)
        try:
            return super().get_result()
        except AGIAppError as exc:
            if type(exc) is AGIAppError:  # result=-1; its subclasses are already hangups
                raise AGIResultHangup("result=-1: the application ended with the call") from exc
            raise
