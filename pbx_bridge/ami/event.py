"""A subscribed event straight from its bytes into a plain dict, without panoramisk's Message.

panoramisk builds a CaseInsensitiveDict per frame: a Python-level `__setitem__` and `lower()` per
header, then the same again on every read. That was most of the cost of a kept frame. An event
frame that is ordinary (no ActionID or CommandID, so nobody waits for it; no header twice; no
`Result`, which panoramisk unquotes) becomes an `AmiEvent`, a dict with the same items in the same
order (panoramisk's empty `content` last), read at C speed under the names Asterisk sends. Anything else returns None, and the caller
takes panoramisk's own path, so both paths give the same mapping for every frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from panoramisk.message import Message

_ABSENT = object()
# Header names panoramisk treats apart: routing to a waiting action, or unquoting (`Result`).
# `content` is an item of every Message (its body; empty for an event), over any header of that name.
_NOT_PLAIN = frozenset({"actionid", "commandid", "result", "content"})
# Headers panoramisk routes by and reads as strings; a frame that has one twice is malformed.
_SINGLE = ("event", "response", "actionid", "commandid", "message", "eventlist", "subevent")
_LOWER_CACHE_MAX = 4096  # distinct header names kept lowered; Asterisk uses a few hundred


class _Lowered(dict):
    """Header name -> its lower case, learnt as names come (bounded: junk names are not kept)."""

    def __missing__(self, key: str) -> str:
        low = key.lower()
        if len(self) < _LOWER_CACHE_MAX:
            self[key] = low
        return low


_lowered = _Lowered()


class AmiEvent(dict):
    """An AMI event's headers, in the order sent; read like panoramisk's Message.

    Lookups by the exact name run at dict speed; any other spelling ("uniqueid") falls back to a
    case-insensitive search, as the Message that handlers were written against did.
    """

    __slots__ = ()
    manager = None
    success = True  # an event always is (panoramisk's rule)
    id = None  # no ActionID/CommandID, or the frame would not be one of these
    action_id = None

    def get(self, key, default=None):  # noqa: ANN001, ANN201 - Mapping.get's signature
        value = dict.get(self, key, _ABSENT)
        if value is _ABSENT:
            return self._folded(key, default)
        return value

    def __missing__(self, key: str):  # noqa: ANN204 - dict's hook
        value = self._folded(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._folded(key, _ABSENT) is not _ABSENT

    def __getattr__(self, attr: str):  # noqa: ANN204 - panoramisk's `event.uniqueid` reads
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self.get(attr, "")

    def _folded(self, key, default):  # noqa: ANN001, ANN202
        wanted = key.lower()
        for name, value in self.items():
            if name.lower() == wanted:
                return value
        return default

    def getdict(self, key: str):  # noqa: ANN201 - as panoramisk's
        return Message.getdict(self, key)

    def __repr__(self) -> str:
        return "<AmiEvent {0}>".format(" ".join("%s=%r" % item for item in sorted(self.items())))


def parse_frame(frame: bytes) -> Message | None:
    text = frame.decode("utf-8", "replace").replace("\r\n\r\n", "\r\n").strip()
    message = Message.from_line(text)
    if message is not None and any(isinstance(message.get(key), list) for key in _SINGLE):
        return None
    return message


def parse_event(frame: bytes) -> AmiEvent | None:
    """The headers of a frame that starts `Event: `, as panoramisk would read them; None when
    panoramisk would read it differently from a plain split (the caller then asks panoramisk)."""
    return _parse(frame.decode("utf-8", "replace").strip())


def _parse(text: str) -> AmiEvent | None:
    pairs = [line.split(": ", 1) for line in text.split("\r\n")]
    if len(pairs[-1]) == 1:  # often: a last `Value: ` that strip() cut to `Value:`, which panoramisk skips
        pairs.pop()
    try:
        event = AmiEvent(pairs)
    except ValueError:  # a line without ": ": panoramisk skips it
        pairs = [pair for pair in pairs if len(pair) == 2]
        event = AmiEvent(pairs)
    if len(event) != len(pairs):
        return None  # a header twice: panoramisk makes a list of it, or calls the frame malformed
    names = set(map(_lowered.__getitem__, event))
    if len(names) != len(event) or not names.isdisjoint(_NOT_PLAIN):
        return None  # the same header in two spellings, an action's answer, a `Result`, a `Content`
    event["content"] = ""  # as in panoramisk's Message
    return event


# Headers that decide whether and where panoramisk routes a frame (or call it malformed when twice).
_ROUTING = re.compile(r"\r\n(actionid|commandid|event|response|message|eventlist|subevent): ")
_NEVER_LAZY = frozenset({"result", "content"})  # read through the whole mapping: panoramisk rewrites them


def read_event(frame: bytes) -> Mapping | None:
    """The mapping to hand to the subscribers of a frame that starts `Event: `; None: the frame
    takes panoramisk's path (it answers an action, or panoramisk would read it another way).

    Most frames an unfiltered stream keeps are read for two or three headers (the tracker drops a
    VarSet of a channel it does not follow after its Event and Uniqueid), so an ASCII frame is not
    split at all: a `LazyEvent` finds the few headers asked for in its text."""
    text = frame.decode("utf-8", "replace").strip()
    if text.isascii():  # lower() keeps every position: the lowered text is searched, the text read
        low = text.lower()
        found = _ROUTING.findall(low)
        if not found or ("actionid" not in found and "commandid" not in found and "event" not in found
                         and len(set(found)) == len(found)):
            return LazyEvent(frame, text, low)
    return _parse(text)


_FIRST_LINE = "\r\nevent: "  # the one header found on the first line, not after a line break


def _needle(key: object) -> str | None:
    """What to search the lowered text for to read header `key`; None: read the whole mapping."""
    if type(key) is not str or not key.isascii():
        return None
    name = key.lower()
    if name in _NEVER_LAZY or ": " in name or "\r" in name or "\n" in name:
        return None
    return _FIRST_LINE if name == "event" else "\r\n" + name + ": "


class _Needles(dict):
    """Header name -> its needle, learnt as names are asked for (bounded, like `_Lowered`)."""

    def __missing__(self, key: object) -> str | None:
        needle = _needle(key)
        if len(self) < _LOWER_CACHE_MAX:
            self[key] = needle
        return needle


_needles = _Needles()


class LazyEvent(Mapping):
    """An event read header by header from its text, the same as the `AmiEvent` (or panoramisk
    Message) it stands for: any header asked for twice in the text, any odd name, and every use
    but `get`/`[]`/`in` (items, len, equality...) builds that mapping once and answers from it."""

    __slots__ = ("_frame", "_text", "_low", "_full")
    manager = None
    success = True
    id = None
    action_id = None

    def __init__(self, frame: bytes, text: str, low: str) -> None:
        self._frame, self._text, self._low, self._full = frame, text, low, None

    def _headers(self) -> Mapping:
        full = self._full
        if full is None:
            full = _parse(self._text)
            if full is None:  # a header twice, or a Result: exactly what panoramisk makes of it
                full = parse_frame(self._frame)
                full = AmiEvent() if full is None else full
            self._full = full
        return full

    def get(self, key, default=None):  # noqa: ANN001, ANN201 - Mapping.get's signature
        if self._full is None:
            try:
                needle = _needles[key]
            except (KeyError, TypeError):
                needle = None
            if needle is _FIRST_LINE:  # `read_event` made sure no other line is an Event
                text = self._text
                eol = text.find("\r\n")
                return text[7:] if eol < 0 else text[7:eol]
            if needle is not None:
                low = self._low
                at = low.find(needle)
                if at < 0:
                    return default
                start = at + len(needle)
                if low.find(needle, start) < 0:  # once only: twice is a list, or the last spelling
                    text = self._text
                    eol = text.find("\r\n", start)
                    return text[start:] if eol < 0 else text[start:eol]
        return self._headers().get(key, default)

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT

    def __setitem__(self, key, value) -> None:  # noqa: ANN001 - as on panoramisk's Message
        self._headers()[key] = value

    def __iter__(self):  # noqa: ANN204
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def items(self):  # noqa: ANN201
        return self._headers().items()

    def keys(self):  # noqa: ANN201
        return self._headers().keys()

    def values(self):  # noqa: ANN201
        return self._headers().values()

    def __eq__(self, other: object) -> bool:
        return dict(self._headers().items()) == (dict(other.items()) if isinstance(other, Mapping) else other)

    __hash__ = None

    def __getattr__(self, attr: str):  # noqa: ANN204 - panoramisk's `event.uniqueid` reads
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self.get(attr, "")

    @property
    def content(self) -> str:
        return self._headers().get("content", "")

    def getdict(self, key: str):  # noqa: ANN201
        return self._headers().getdict(key)

    def __repr__(self) -> str:
        return repr(self._headers()).replace("<AmiEvent", "<LazyEvent", 1)
