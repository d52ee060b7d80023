"""`pbx-bridge run`, the real command in a real process, made to leak: once the daemon runs, every
road a log line can take carries the secrets it was configured with.

Used by tests/unit/test_secrets_in_logs.py: the process's stdout and stderr must still hold none
of them. The roads: a structlog exception (a traceback), a value and a nested value, a stdlib
`logging` record with a traceback (what SQLAlchemy or aiomqtt would log), a Python warning, the
asyncio loop's exception handler, and last an exception nobody catches, which ends the process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings

import structlog

from pbx_bridge import daemon
from pbx_bridge.cli import main
from pbx_bridge.live.settings import MQTT_PASSWORD_ENV


class Leak(RuntimeError):
    pass


def _leaky_text(cfg) -> str:  # noqa: ANN001 - a Config
    realtime = cfg.reconcile.realtime.url if cfg.reconcile.realtime is not None else ""
    return (f"ami secret {cfg.ami.secret.get_secret_value()} agi secret {cfg.agi.secret.get_secret_value()} "
            f"store {cfg.store.url} "
            f"mqtt {os.environ.get(MQTT_PASSWORD_ENV)} realtime {realtime}")


async def _leak(self) -> None:  # noqa: ANN001 - replaces Daemon._watchdog
    # the connection failures (AMI, MQTT, the realtime queue_log database) are logged first
    while not (self.ami.backoff.failures and self.core.handles["live"].mqtt.backoff.failures
               and all(source["last_error"] for source in self.core.handles["reconcile"].health().values())):
        await asyncio.sleep(0.05)
    text = _leaky_text(self.cfg)
    log = structlog.get_logger("leak")
    try:
        raise Leak(text)
    except Leak:
        log.exception("leak_structlog_traceback")
    log.warning("leak_values", detail=text, nested={"url": self.cfg.store.url, "list": [text]}, error=Leak(text))
    try:
        raise Leak(text)
    except Leak:
        logging.getLogger("sqlalchemy.pool").exception("leak_stdlib_traceback %s", text)
    warnings.warn(f"leak_warning {text}", stacklevel=1)
    asyncio.get_running_loop().call_exception_handler({"message": f"leak_asyncio {text}", "exception": Leak(text)})
    print("leak_done", file=sys.stderr, flush=True)
    raise Leak(f"leak_uncaught {text}")


daemon.Daemon._watchdog = _leak
sys.argv[0] = "pbx-bridge"
main()
