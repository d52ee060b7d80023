"""The three shapes of every list and show: `--format table|csv|json`.

One helper so that a script reading any command's JSON or CSV meets the same conventions: JSON is
one array of objects (UTF-8, not escaped), CSV has a header row of the same field names, and the
table is for people (`-` for an empty cell). A command whose table is not one row per record (a
`show`) prints its own table and hands only the rows to `emit` for csv and json.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, Callable, Sequence

import click

FORMATS = ("table", "csv", "json")

FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                      help="table for people; csv or json (an array of objects) for scripts.")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def table(rows: Sequence[dict], fields: Sequence[str]) -> None:
    cells = [[_cell(row.get(f)) for f in fields] for row in rows]
    widths = [max(len(f), *(len(c[i]) for c in cells)) for i, f in enumerate(fields)]
    click.echo("  ".join(f.ljust(w) for f, w in zip(fields, widths)).rstrip())
    for c in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


def _csv_value(value: Any) -> Any:
    return "; ".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def emit(rows: Sequence[dict], fields: Sequence[str], fmt: str, empty: str = "",
         as_table: Callable[[Sequence[dict]], None] | None = None) -> None:
    """Print `rows` in `fmt`; `empty` is the table's line when there is no row, `as_table` a
    command's own table printer (default: aligned columns of `fields`)."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=1, default=str))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({f: _csv_value(row.get(f)) for f in fields} for row in rows)
    elif not rows and empty:
        click.echo(empty)
    elif as_table is not None:
        as_table(rows)
    else:
        table(rows, fields)


def prefixed(kind: str, exc: Exception) -> str:
    """An admin file's error, every line with its prefix: `pbx-bridge: rota error: file:line: ...`
    (an error carries one line per problem found)."""
    return "\n".join(f"pbx-bridge: {kind}: {line}" for line in str(exc).splitlines() or [""])
