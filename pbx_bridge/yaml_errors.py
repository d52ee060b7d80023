"""YAML files validated by pydantic, with errors phrased for the admin: `file:line: key: problem`.

Shared by the configuration (`config.py`) and the voicemail rota (`rota/`). The person reading the
error has the YAML open in an editor, so every error is one line naming the file, the line and
the key path, list indices included: `rota.yaml:12: companies[2].agents[0].employee_no: ...`.

Two pieces:
- `read_yaml(path, error)`: the parsed data and its node tree (the nodes carry line numbers); a
  key written twice in one mapping is refused, one line per duplicate;
- `format_validation_error(path, root, data, exc)`: one line per error of a pydantic ValidationError.

An error carries every problem found, one per line (`str(exc).splitlines()`), so that the admin
fixes the file in one edit; the commands print each line with their prefix.

Every admin file (config, rota, screening list) is read within limits, because the daemon reads
them again while it runs (SIGHUP, the file watchers) and must refuse a bad edit rather than die or
swap: at most `MAX_FILE_BYTES` of a regular file, read before parsing; at most `MAX_DEPTH` levels
of nesting (PyYAML composes recursively: a `[[[[...` file would end in RecursionError); at most
`MAX_NODES` values, counting what aliases expand to (a "billion laughs" file of a few lines
expands to billions of values; aliases that stay small, `<<: *defaults`, remain allowed). The
largest real file, a screening list of some thousands of numbers, is far inside every limit.
Dates in them lie in `FIRST_YEAR..LAST_YEAR` (`in_years`): a rota simulated from the year 1, or a
screen `until: 9999-12-31` plus one day, would cost minutes or overflow.

A validator that checks something across the document (a company in two rounds, say) raises
`At("message", loc=(...))`: `loc` is the key path below the model being validated, so the line
points at the offending key rather than at the top of the model.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from datetime import date
from typing import Any, Sequence

import yaml
from pydantic import ValidationError
from yaml.events import AliasEvent

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 200_000
FIRST_YEAR, LAST_YEAR = 1970, 2100


def in_years(day: date) -> date:
    """`day` (a date or datetime), or ValueError if its year is outside FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{day.isoformat()} is outside the years {FIRST_YEAR}..{LAST_YEAR}")
    return day


class At(ValueError):
    """A validation error at a key path below the model (or field) whose validator raised it."""

    def __init__(self, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


class PlainLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's base-60 and octal integers.

    Under the default rules `11:00` is the integer 660 and `0301` is the octal 193: a listening
    time or a 工号 would be silently changed. Here they stay strings; `301` is still an integer.
    """


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PlainLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?(?:0|[1-9][0-9_]*))$"),
    list("-+0123456789"),
)


def _timestamp_or_text(loader: PlainLoader, node: yaml.ScalarNode):
    """`2026-13-01` stays text (pydantic then says at which key it is not a date) instead of a crash."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


PlainLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _size(n: int) -> str:
    """`4.8 MiB`, `1 MiB`, `4 KiB`"""
    unit, div = ("MiB", 1 << 20) if n >= 1 << 20 else ("KiB", 1 << 10)
    return f"{f'{n / div:.1f}'.removesuffix('.0')} {unit}"


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """O_NONBLOCK: a FIFO named by mistake is refused instead of blocking the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    return fd, os.fstat(fd)


def read_bytes(path: str, error: type[Exception], limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of a regular file of at most `limit` bytes; `error(one line)` otherwise.

    The size is checked before anything is read, and the read itself stops one byte past the
    limit: /dev/zero or a runaway log named by mistake costs nothing.
    """
    try:
        fd, st = _open_regular(path)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: not a regular file")
        if st.st_size > limit:
            raise error(f"{path}: too large ({_size(st.st_size)}, limit {_size(limit)})")
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror}") from exc
    if len(raw) > limit:  # grew since the stat
        raise error(f"{path}: too large (over {_size(limit)})")
    return raw


def file_digest(path: str) -> bytes | None:
    """What a file watcher compares: the sha256 of what `read_bytes` would read, or of the
    file's size and type when it would refuse it (so a refused file is tried again only when it
    changes); None when the file cannot be opened (missing)."""
    try:
        fd, st = _open_regular(path)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return hashlib.sha256(f"refused {st.st_mode} {st.st_size} {st.st_mtime_ns}".encode()).digest()
        try:
            return hashlib.sha256(fh.read(MAX_FILE_BYTES + 1)).digest()
        except OSError:
            return None


class _Refused(yaml.MarkedYAMLError):
    """A limit of this module, at the node where it was passed."""


def _bounded(loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`loader` with the depth and node-count limits checked as the node tree is composed."""
    cached = _BOUNDED.get(loader)
    if cached is not None:
        return cached

    class Bounded(loader):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._heights: list[int] = []  # per node being composed: the tallest child so far
            self._nodes = 0
            self._anchored: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, height)

        def _count(self, n: int, mark: yaml.Mark) -> None:
            self._nodes += n
            if self._nodes > MAX_NODES:
                raise _Refused(problem=f"too many values (over {MAX_NODES}, aliases counted as expanded)",
                               problem_mark=mark)

        def _child(self, height: int, mark: yaml.Mark) -> None:
            if len(self._heights) + height > MAX_DEPTH:
                raise _Refused(problem=f"too deeply nested (over {MAX_DEPTH} levels)", problem_mark=mark)
            if self._heights:
                self._heights[-1] = max(self._heights[-1], height)

        def compose_node(self, parent, index):  # noqa: ANN001, ANN202 - PyYAML's signature
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                node = super().compose_node(parent, index)
                expanded = self._anchored.get(id(node))
                if expanded is None:
                    raise _Refused(problem="an alias inside its own anchor", problem_mark=event.start_mark)
                self._count(expanded[0], event.start_mark)
                self._child(expanded[1], event.start_mark)
                return node
            self._child(1, event.start_mark)
            self._count(1, event.start_mark)
            before = self._nodes
            self._heights.append(0)
            node = super().compose_node(parent, index)
            height = self._heights.pop() + 1
            if self._heights:
                self._heights[-1] = max(self._heights[-1], height)
            if event.anchor is not None:
                self._anchored[id(node)] = (self._nodes - before + 1, height)
            return node

    Bounded.__name__ = f"Bounded{loader.__name__}"
    _BOUNDED[loader] = Bounded
    return Bounded


_BOUNDED: dict[type, type] = {}


def read_yaml(path: str, error: type[Exception], loader: type[yaml.SafeLoader] = yaml.SafeLoader,
              text: str | None = None) -> tuple[dict, yaml.Node | None]:
    """The file's mapping and its node tree; `error(one line)` if it cannot be read or parsed, or
    passes a limit (size, depth, values)."""
    if text is None:
        raw = read_bytes(path, error)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{path}: not UTF-8 text: {exc.reason}") from exc
    elif (size := len(text.encode("utf-8"))) > MAX_FILE_BYTES:
        raise error(f"{path}: too large ({_size(size)}, limit {_size(MAX_FILE_BYTES)})")
    parser = _bounded(loader)(text)
    try:
        root = parser.get_single_node()
        duplicates = duplicate_keys(path, root)
        data = parser.construct_document(root) if root is not None and not duplicates else None
    except _Refused as exc:
        raise error(f"{path}:{exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        raise error(f"{where}: invalid YAML: {exc.problem}") from exc
    except RecursionError:  # the limits above should make this unreachable
        raise error(f"{path}: too deeply nested") from None
    except (yaml.YAMLError, ValueError) as exc:  # e.g. SafeLoader on a date like 2026-13-01
        raise error(f"{path}: invalid YAML: {exc}") from exc
    finally:
        parser.dispose()
    if duplicates:
        raise error("\n".join(duplicates))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{path}:1: the file must be a mapping of keys, not a {type(data).__name__}")
    return data, root


def node_line(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the deepest YAML node on the key path (mapping keys and list indices)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _is_tag(part: Any) -> bool:
    """pydantic's own loc entries: union branches (`Cadence`, `literal['cn','us']`), validators."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def clean_loc(data: Any, loc: Sequence[Any]) -> tuple[str | int, ...]:
    """The error path as the admin wrote it: keys and indices found in the data, without pydantic's tags."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif _is_tag(part):
            continue
        elif isinstance(cur, dict) or cur is None and isinstance(part, str):
            out.append(part)  # a missing key, or a key below one
            cur = None
    return tuple(out)


def key_path(loc: Sequence[str | int]) -> str:
    """`companies[2].agents[0].employee_no`"""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def located(path: str, root: yaml.Node | None, loc: Sequence[str | int], message: str) -> str:
    line = node_line(root, loc)
    where = f"{path}:{line}" if line else path
    return f"{where}: {key_path(loc)}: {message}"


def _best(errors: list) -> dict:
    # With a union pydantic reports every branch; the deepest error is the one that speaks of
    # what the admin wrote, and an unknown key is the likeliest slip.
    return sorted(errors, key=lambda e: (-len(e["loc"]), e["type"] != "extra_forbidden"))[0]


def format_validation_error(path: str, root: yaml.Node | None, exc: ValidationError, data: Any = None) -> str:
    """Every error, one line each (`file:line: key: problem`), in the order of the file's lines:
    the admin fixes them all in one edit rather than one per run. The union branches pydantic
    reports for one key make one line (the likeliest)."""
    by_loc: dict[tuple, list] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, At):
            loc += cause.loc
        loc = tuple(p for p in loc if not _is_tag(p)) if data is None else clean_loc(data, loc)
        by_loc.setdefault(loc, []).append(error)
    lines = []
    for loc, errors in by_loc.items():
        if any(len(other) > len(loc) and other[:len(loc)] == loc for other in by_loc):
            continue  # a list's "at least 1 item" when its items failed: their errors say it
        first = _best(errors)
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "missing":
            message = "required key is missing"
        else:
            message = first["msg"].removeprefix("Value error, ")
        lines.append((node_line(root, loc) or 0, located(path, root, loc, message)))
    return "\n".join(line for _, line in sorted(lines, key=lambda pair: pair[0]))


MERGE_TAG = "tag:yaml.org,2002:merge"


def duplicate_keys(path: str, root: yaml.Node | None) -> list[str]:
    """One line per key written twice in the same mapping: YAML keeps the last silently, so a
    second `start:` in a rota would win unseen. `<<:` merges are not duplicates (their keys are
    meant to be overridden)."""
    out: list[str] = []
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, loc: tuple) -> None:
        if id(node) in seen_nodes:  # an alias: checked where it was anchored
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in first:
                        out.append(f"{path}:{line}: {key_path(loc + (key_node.value,))}: duplicate key "
                                   f"(first at line {first[key]}): write each key once")
                    else:
                        first[key] = line
                    walk(value_node, loc + (key_node.value,))
                else:
                    walk(value_node, loc)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, loc + (i,))

    if root is not None:
        walk(root, ())
    return out
