"""`pbx-bridge run`, the real command in a real process, with one task made to fail once the
daemon runs: the watchdog task raises shortly after start, whatever AMI is doing. (Not a timed job
such as the call sweeper: `core.every` logs a failed run and goes on, by design.)

Used by tests/integration/test_daemon_life.py: the daemon must log the failure at once, stop every
other task and exit non-zero by itself (systemd then restarts it), instead of living on half-dead.
"""

from __future__ import annotations

import asyncio
import sys

from pbx_bridge import daemon
from pbx_bridge.cli import main


class WatchdogBroke(RuntimeError):
    pass


async def _broken_watchdog(self) -> None:  # noqa: ANN001 - replaces Daemon._watchdog
    await asyncio.sleep(0.5)
    raise WatchdogBroke("the watchdog broke (injected by tests/support/failing_run.py)")


daemon.Daemon._watchdog = _broken_watchdog
sys.argv[0] = "pbx-bridge"
main()
