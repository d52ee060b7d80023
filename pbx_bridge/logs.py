"""structlog set-up, done once in main.

Under systemd (JOURNAL_STREAM/INVOCATION_ID set, or stdout not a terminal) every line is one JSON
object so the journal and log shippers can index it; on a terminal it is coloured and readable.
Secrets are masked here, centrally, so that no call site has to remember to: by key name, in every
value (exception text and tracebacks included, since they are rendered to text before masking),
and once more on the finished line, whatever the renderer did to the values. The libraries'
stdlib `logging` records (SQLAlchemy, aiomqtt, asyncio) and an uncaught exception's traceback
take the same road, so no line reaches stdout or stderr without passing the mask.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, Literal

import structlog

from pbx_bridge.settings import Strict

_SECRET_KEYS = ("secret", "password", "passwd", "pin", "token")
_secret_values: set[str] = set()
_longest_first: tuple[str, ...] = ()  # a secret that contains another is masked whole
_MASK = "***"


class LoggingConfig(Strict):
    """The `logging:` section, which main hands to configure()."""

    format: Literal["auto", "json", "console"]
    level: Literal["debug", "info", "warning", "error"]


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it would appear in a log line (also as JSON or repr() spell it)."""
    global _longest_first
    if value and len(value) >= 3:
        _secret_values.add(value)
        for spelt in (json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1], repr(value)[1:-1]):
            _secret_values.add(spelt)
        _longest_first = tuple(sorted(_secret_values, key=len, reverse=True))


def mask_text(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_mask(item) for item in value]
    if isinstance(value, BaseException):
        return mask_text(repr(value))
    return value


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = _MASK
        else:
            event[key] = _mask(event[key])
    return event


def _masked(renderer: Any) -> Any:
    """The renderer, with its finished line masked: the last word whatever it did to the values."""

    def render(logger: Any, name: str, event: dict[str, Any]) -> Any:
        line = renderer(logger, name, event)
        return mask_text(line) if isinstance(line, str) else line

    return render


def wants_json(fmt: str) -> bool:
    if fmt != "auto":
        return fmt == "json"
    under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    return under_systemd or not sys.stdout.isatty()


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (the journal's stream, or a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def _route_stdlib_logging(renderer: Any, level: int) -> None:
    """Libraries log through stdlib logging; without a handler Python prints their warnings and
    tracebacks raw to stderr. Give the root logger one handler that renders like ours, masked."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact, _masked(renderer)],
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))  # the libraries' info/debug chatter stays out
    logging.captureWarnings(True)


def _log_uncaught(exc_type, exc, tb) -> None:  # noqa: ANN001 - sys.excepthook's signature
    """A crash's traceback goes through the mask like any other line (and then exit 1 as before)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    structlog.get_logger(__name__).critical("uncaught_exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    structlog.get_logger(__name__).critical("uncaught_exception_in_thread", thread=getattr(args.thread, "name", None),
                                            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def configure(fmt: str = "auto", level: str = "info") -> None:
    renderer: Any
    if wants_json(fmt):
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        # the traceback arrives as text (format_exc_info below), already masked: printed as it is
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty(),
                                                 exception_formatter=structlog.dev.plain_traceback)
    numeric_level = getattr(logging, level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # the exception becomes text BEFORE redact, for both renderers: its message and the
            # traceback's lines are masked like any other value
            structlog.processors.format_exc_info,
            redact,
            _masked(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(renderer, numeric_level)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
