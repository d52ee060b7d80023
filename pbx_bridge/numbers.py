"""Numbers and names that callers control, as validated types.

A caller ID is whatever the far end (or a trunk) says it is. Put unchecked into a Dial string it
can name another context, a second channel (`&`) or Dial options (`,`); put into an AGI command or
an AMI header it can end the line and start another. So a number is a `PhoneNumber` from the moment
it enters the daemon (voicemail spool, AGI headers and variables, AMI events, CLI, YAML), and every
place that builds a command takes only these types (see `pbx_bridge.agi.quoting` and
docs/security.md). A str subclass: it is stored, compared and logged like the text it is.

This module is core: it imports nothing from the features.
"""

from __future__ import annotations

import re

import structlog

log = structlog.get_logger(__name__)

MAX_DIGITS = 32
# [0-9], not \d: Python's \d and str.isdigit() accept '１２３' and '٠١٢', which Asterisk does not dial.
_PHONE = re.compile(r"\+?[0-9]{1,%d}" % MAX_DIGITS)
# What Asterisk and trunks put in a caller ID when there is no number: normal, not worth a warning.
NO_NUMBER = frozenset({"", "unknown", "anonymous", "restricted", "private", "unavailable", "withheld", "<unknown>"})
# A channel as Asterisk names it: `PJSIP/trunk-0000001a`, `Local/8001@vm-context-00000003;2`,
# `IAX2/10.0.0.1:4569-1234`.
# Never `,` `(` `)` `|` `&` `^` `"` `\` whitespace or control characters: those end an argument.
_CHANNEL = re.compile(r"[A-Za-z0-9_]{1,32}/[A-Za-z0-9_.@;/:+#*-]{1,200}")
_BLANKS = " \t"  # dropped around a number; a line break is not a blank here, it is refused
# A context, extension, queue, variable or application name we write into a command.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,79}")


class InvalidValue(ValueError):
    """Text that is not what its place in a command needs; the message shows it, repr-truncated."""


def shown(raw: object, limit: int = 60) -> str:
    """The offending text for a log line or an error: repr, cut short (it came from a stranger)."""
    text = repr(raw)
    return text if len(text) <= limit else text[:limit] + "...'"


class _Checked(str):
    """Text that matched its type's pattern once, where it entered; the type is the proof after."""

    __slots__ = ()
    pattern: re.Pattern
    what: str

    def __new__(cls, raw: object):
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, str) or not cls.pattern.fullmatch(raw):
            raise InvalidValue(f"{shown(raw)} is not {cls.what}")
        return super().__new__(cls, raw)


class PhoneNumber(_Checked):
    """A number that is safe to dial and to say: an optional leading `+`, then 1-32 ASCII digits."""

    __slots__ = ()
    pattern, what = _PHONE, "a phone number (digits, optionally a leading +)"

    @classmethod
    def parse(cls, raw: object) -> "PhoneNumber":
        """Strict: surrounding spaces are dropped, anything else odd raises InvalidValue."""
        return cls(raw.strip(_BLANKS) if isinstance(raw, str) else raw)


def phone_number_or_none(raw: object, *, source: str | None = "caller_id") -> PhoneNumber | None:
    """For places where a missing number is normal (anonymous callers): None for no number.

    A number that is there but invalid is also None, and logged as a warning with the text under
    `source`, so a hostile caller ID is seen in the log and treated as anonymous. `source=None`:
    not logged (for text that was already judged, and logged, where it entered).
    """
    if raw is None:
        return None
    text = raw.strip(_BLANKS) if isinstance(raw, str) else raw
    if isinstance(text, str) and text.lower() in NO_NUMBER:
        return None
    try:
        return PhoneNumber(text)
    except InvalidValue:
        if source is not None:
            log.warning("caller_number_refused", source=source, raw=shown(raw))
        return None


class ChannelName(_Checked):
    """A channel name, e.g. from PBXB_CALLER_CHAN, fit to be an application argument."""

    __slots__ = ()
    pattern, what = _CHANNEL, "a channel name"

    @classmethod
    def local(cls, number: PhoneNumber, context: "DialplanName", options: str = "n") -> "ChannelName":
        """`Local/<number>@<context>/<options>`: only a PhoneNumber and a DialplanName go in."""
        if not isinstance(number, PhoneNumber) or not isinstance(context, DialplanName):
            raise TypeError("a Local channel takes a PhoneNumber and a DialplanName")
        if not re.fullmatch(r"[a-z]{0,8}", options):
            raise InvalidValue(f"{shown(options)} are not Local channel options")
        return cls(f"Local/{number}@{context}" + (f"/{options}" if options else ""))


class DialplanName(_Checked):
    """A context, extension, queue, variable or application name: letters, digits, `_ . + -`."""

    __slots__ = ()
    pattern, what = _NAME, "a dialplan name"


_NOT_IN_NAME = re.compile(r'[\x00-\x1f\x7f-\x9f"\\<>\u2028\u2029]')


def caller_id(name: str | None, number: PhoneNumber | None) -> str:
    """An AMI `CallerID` value, `"name" <number>`: the one way a caller's name reaches Asterisk.

    The name is text from a stranger (or a YAML file): quotes, backslashes, angle brackets and
    control characters are dropped, so it can neither close the quoted name nor end the header.
    """
    if number is not None and not isinstance(number, PhoneNumber):
        raise TypeError("caller_id takes a PhoneNumber")
    clean = _NOT_IN_NAME.sub("", name or "").strip()[:80]
    return f'"{clean}" <{number}>' if number else f'"{clean}"'
