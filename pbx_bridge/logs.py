"""structlog set-up, done once in main.

Under systemd (JOURNAL_STREAM/INVOCATION_ID set, or stdout not a terminal) every line is one JSON
object so the journal and log shippers can index it; on a terminal it is coloured and readable.
Secrets are masked here, centrally, so that no call site has to remember to.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_SECRET_KEYS = ("secret", "password", "passwd", "pin", "token")
_secret_values: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it would appear in a log line."""
    if value and len(value) >= 3:
        _secret_values.add(value)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secret_values:
            if secret in value:
                value = value.replace(secret, "***")
    return value


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "***"
        else:
            event[key] = _mask(event[key])
    return event


def wants_json(fmt: str) -> bool:
    if fmt != "auto":
        return fmt == "json"
    under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    return under_systemd or not sys.stdout.isatty()


def configure(fmt: str = "auto", level: str = "info") -> None:
    renderer: Any
    if wants_json(fmt):
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if wants_json(fmt) else structlog.dev.set_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
