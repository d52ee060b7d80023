#!/usr/bin/env python3
"""Ring-twice (rules §1) for sites on classic AGI: `AGI(/usr/share/pbx-bridge/agi/ring_twice.py,agent)`.

The same plan as the daemon's FastAGI route (`pbx_bridge.ring_twice.plan`). Whatever happens the
script exits 0, so Asterisk goes on with the dialplan: if the rule could not be applied,
PBXB_RING_TWICE is left unset or set to `error` and the dialplan uses its own defaults.
stdout is the AGI channel; diagnostics go to stderr and, for the admin, to Asterisk's VERBOSE log.
"""

from __future__ import annotations

import os
import sys
import traceback

from pbx_bridge.agi.pyst2_compat import AGI, AGIHangup

TAG = "pbx-bridge ring_twice"


def ring_settings(agi: AGI):
    from pbx_bridge.config import DEFAULT_CONFIG_PATH, SECRET_ENV, ConfigError, load_config, packaged_defaults
    from pbx_bridge.ring import RingConfig

    path = os.environ.get("PBX_BRIDGE_CONFIG", DEFAULT_CONFIG_PATH)
    # The script needs no AMI secret: a placeholder keeps an ami.secret_file that the asterisk
    # user may not read from failing the whole config.
    env = {**os.environ, SECRET_ENV: "unused-by-agi"}
    try:
        return load_config(path, env).ring
    except ConfigError as exc:
        message = f"{TAG}: config error: {exc}; using the packaged ring defaults"
        print(message, file=sys.stderr)
        agi.verbose(message, 1)
        return RingConfig.model_validate(packaged_defaults()["ring"])


def run(agi: AGI, role: str) -> None:
    from pbx_bridge.ring_twice.plan import UnknownRole, plan

    ring = ring_settings(agi)
    try:
        lines = plan(role, ring)
    except UnknownRole as exc:
        print(f"{TAG}: {exc}", file=sys.stderr)
        agi.verbose(f"{TAG}: {exc}", 1)
        agi.set_variable("PBXB_RING_TWICE", "error")
        return
    for line in lines:
        agi.execute(line)


def main() -> int:
    agi = AGI()  # first: it takes over SIGHUP and reads the environment Asterisk is sending
    sys.stdout = sys.stderr  # a stray print must never reach Asterisk as a command
    role = sys.argv[1] if len(sys.argv) > 1 else agi.env.get("agi_arg_1", "")
    try:
        run(agi, role)
    except AGIHangup:
        pass  # the caller left: nothing to do, nothing to report
    except Exception:  # noqa: BLE001 - any failure must still let the call go on
        traceback.print_exc(file=sys.stderr)
        try:
            agi.set_variable("PBXB_RING_TWICE", "error")
        except Exception:  # noqa: BLE001
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
