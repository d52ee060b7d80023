"""Building AGI command lines from parts, so that caller data can never change their shape.

Two layers, each with one job:
- `agi_quote` keeps one text argument one argument on one line: it is wrapped in `"` with `\\` and
  `"` escaped (res_agi's parse_args reads both), and control characters (CR, LF, NUL, ...) are
  dropped, so no text can end the command and start another. `AgiSession.command` refuses a
  line with CR, LF or NUL anyway, as the last line of defence.
- the types of `pbx_bridge.numbers` keep an application's own syntax intact: inside `EXEC` data
  (`Dial`, `ChannelRedirect`) a `,` `&` `@` `(` means something, so only a PhoneNumber, a
  ChannelName, a DialplanName, an int, or a literal option word may go there.

Every AGI command in the daemon that carries anything not written in the code is built here.
"""

from __future__ import annotations

import re

from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue, PhoneNumber, shown

_VERB = re.compile(r"[A-Z]+(?: [A-Z]+)*")
_APP = re.compile(r"[A-Za-z][A-Za-z0-9]{0,39}")
_OPTION = re.compile(r"[A-Za-z0-9_]{0,16}")  # a literal Dial option or label written in the code
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_SAFE_TYPES = (PhoneNumber, ChannelName, DialplanName)


def agi_quote(text: str) -> str:
    """One text argument of an AGI command: always quoted, escaped, on one line."""
    if not isinstance(text, str):
        raise TypeError(f"agi_quote takes text, not {type(text).__name__}")
    clean = _CONTROL.sub("", text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _argument(value: object) -> str:
    if isinstance(value, _SAFE_TYPES):
        return str(value)
    if isinstance(value, bool):
        raise TypeError("a bool is not an AGI argument")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return agi_quote(value)
    raise TypeError(f"not an AGI argument: {type(value).__name__}")


def agi_command(verb: str, *args: object) -> str:
    """`SAY DIGITS <number> "<escape>"`: the verb is the code's own, the rest typed or quoted.

    A PhoneNumber, ChannelName, DialplanName or int goes in as it is (each is one bare token);
    any other text goes through `agi_quote`.
    """
    if not _VERB.fullmatch(verb):
        raise InvalidValue(f"{shown(verb)} is not an AGI command verb")
    return " ".join([verb, *(_argument(a) for a in args)])


def agi_exec(app: str, *args: object) -> str:
    """`EXEC <app> <a>,<b>,...`: every argument typed, or a literal option word from the code."""
    if not _APP.fullmatch(app):
        raise InvalidValue(f"{shown(app)} is not an application name")
    parts = []
    for value in args:
        if isinstance(value, (*_SAFE_TYPES, int)) and not isinstance(value, bool):
            parts.append(str(value))
        elif isinstance(value, str) and _OPTION.fullmatch(value):
            parts.append(value)
        else:
            raise InvalidValue(f"{shown(value)} cannot be an argument of {app}: "
                               "only a PhoneNumber, ChannelName, DialplanName, int or option word")
    return f"EXEC {app} {','.join(parts)}"
