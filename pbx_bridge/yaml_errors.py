"""YAML files validated by pydantic, with errors phrased for the admin: `file:line: key: problem`.

Shared by the configuration (`config.py`) and the voicemail rota (`rota/`). The person reading the
error has the YAML open in an editor, so every error is one line naming the file, the line and
the key path, list indices included: `rota.yaml:12: companies[2].agents[0].employee_no: ...`.

Two pieces:
- `read_yaml(path, error)`: the parsed data and its node tree (the nodes carry line numbers);
- `format_validation_error(path, root, data, exc)`: the one line for a pydantic ValidationError.

A validator that checks something across the document (a company in two rounds, say) raises
`At("message", loc=(...))`: `loc` is the key path below the model being validated, so the line
points at the offending key rather than at the top of the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import ValidationError


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


def read_yaml(path: str, error: type[Exception], loader: type[yaml.SafeLoader] = yaml.SafeLoader,
              text: str | None = None) -> tuple[dict, yaml.Node | None]:
    """The file's mapping and its node tree; `error(one line)` if it cannot be read or parsed."""
    if text is None:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise error(f"{path}: not UTF-8 text: {exc.reason}") from exc
    try:
        root = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        raise error(f"{where}: invalid YAML: {exc.problem}") from exc
    except (yaml.YAMLError, ValueError) as exc:  # e.g. SafeLoader on a date like 2026-13-01
        raise error(f"{path}: invalid YAML: {exc}") from exc
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


def format_validation_error(path: str, root: yaml.Node | None, exc: ValidationError, data: Any = None) -> str:
    """One line for the first error, `(and N more)` for the rest."""
    errors = exc.errors()
    # With a union pydantic reports every branch; the deepest error is the one that speaks of
    # what the admin wrote, and an unknown key is the likeliest slip.
    first = sorted(errors, key=lambda e: (-len(e["loc"]), e["type"] != "extra_forbidden"))[0]
    loc = tuple(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, At):
        loc += cause.loc
    if data is None:
        loc = tuple(p for p in loc if not _is_tag(p))
    else:
        loc = clean_loc(data, loc)
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
    more = len(errors) - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    return located(path, root, loc, message + suffix)
