"""A subscribed event straight from its bytes into a plain dict, without panoramisk's Message.

panoramisk builds a CaseInsensitiveDict per frame: a Python-level `__setitem__` and `lower()` per
header, then the same again on every read. That was most of the cost of a kept frame. An event
frame that is ordinary (no ActionID or CommandID, so nobody waits for it; no header twice; no
`Result`, which panoramisk unquotes) becomes an `AmiEvent`, a dict with the same items in the same
order (panoramisk's empty `content` last), read at C speed under the names Asterisk sends. Anything else returns None, and the caller
takes panoramisk's own path, so both paths give the same mapping for every frame.
"""

from __future__ import annotations

from panoramisk.message import Message

_ABSENT = object()
# Header names panoramisk treats apart: routing to a waiting action, or unquoting (`Result`).
# `content` is an item of every Message (its body; empty for an event), over any header of that name.
_NOT_PLAIN = frozenset({"actionid", "commandid", "result", "content"})
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


def parse_event(frame: bytes) -> AmiEvent | None:
    """The headers of a frame that starts `Event: `, as panoramisk would read them; None when
    panoramisk would read it differently from a plain split (the caller then asks panoramisk)."""
    text = frame.decode("utf-8", "replace").strip()
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
