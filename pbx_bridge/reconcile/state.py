"""Where each source stopped, kept in a small JSON file that is replaced atomically.

Written only after the records read up to that point are committed (see reconciler.py), so a
SIGKILL at any moment leaves either the old position or the new one, never a position past calls
that are not in the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # Unreadable: reading again from the start is safe (writing is idempotent), only slower.
        log.warning("queue_log_state_unreadable", path=str(path), error=repr(exc))
        return None
    return data if isinstance(data, dict) else None


def save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
