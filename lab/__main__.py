"""python -m lab start|stop|restart|status|build|cli CMD|record OUT.ami [SCENARIO]|
                 record-all DIR|traffic [SCENARIO ...]|sipp-call [HOLD]"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .core import Lab


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab", description="pbx-bridge Asterisk lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build the chroot (lab/build.sh, cached)")
    sub.add_parser("start", help="(re)start Asterisk; stays running after exit")
    sub.add_parser("stop")
    sub.add_parser("restart")
    sub.add_parser("status")
    p = sub.add_parser("cli", help="run an Asterisk CLI command")
    p.add_argument("command", nargs="+")
    p = sub.add_parser("record", help="record one scenario's raw AMI bytes (+ .queue_log)")
    p.add_argument("out")
    p.add_argument("scenario", nargs="?", default="mixed")
    p.add_argument("--unfiltered", action="store_true", help="lab user without event filter")
    p = sub.add_parser("record-all", help="record every scenario into DIR")
    p.add_argument("dir")
    p = sub.add_parser("traffic", help="run scenarios (default: all) and print results")
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    lab = Lab()
    if a.cmd == "build":
        lab.ensure()
    elif a.cmd in ("start", "restart"):
        lab.ensure()
        lab.start()
        print(f"lab up in {lab.start_seconds:.1f}s: AMI {lab.ami_host}:{lab.ami_port} "
              f"user {lab.ami_user}/{lab.ami_secret} (filtered), "
              f"{lab.raw_user}/{lab.raw_secret} (unfiltered); SIP udp 127.0.0.1:5060; "
              f"FastAGI secret {lab.agi_secret} (PBX_BRIDGE_AGI_SECRET); "
              f"queue_log {lab.queue_log_path}")
    elif a.cmd == "stop":
        lab.stop()
        print("lab stopped")
    elif a.cmd == "status":
        if lab.is_running():
            print(lab.cli("core show uptime").strip())
            print(lab.cli("queue show").strip())
        else:
            print("lab not running" + ("" if lab.is_built() else " (not built)"))
            return 1
    elif a.cmd == "cli":
        sys.stdout.write(lab.cli(" ".join(a.command)))
    elif a.cmd == "record":
        from .record import record
        _need(lab)
        r = record(lab, a.scenario, a.out, filtered=not a.unfiltered)
        print(json.dumps(r, ensure_ascii=False, indent=1))
    elif a.cmd == "record-all":
        from .record import record_all, dump_results
        _need(lab)
        from pathlib import Path
        dump_results(record_all(lab, a.dir), Path(a.dir) / "scenarios.json")
    elif a.cmd == "traffic":
        from . import traffic
        _need(lab)
        names = a.scenarios or list(traffic.SCENARIOS)
        with lab.ami() as ami:
            for n in names:
                t = time.time()
                r = traffic.SCENARIOS[n](ami)
                r.pop("events", None)
                if a.json:
                    print(json.dumps(r, ensure_ascii=False))
                else:
                    for c in r["calls"]:
                        print(f"{n:22s} {c['caller_name']} <{c['caller_num']}> -> {c['queue']}: "
                              f"{c['outcome']} agent={c.get('agent')} "
                              f"ended_by={c.get('ended_by')} callid={c.get('callid')}")
                    print(f"{n:22s} done in {time.time() - t:.1f}s", flush=True)
    return 0


def _need(lab):
    if not lab.is_running():
        lab.start()


if __name__ == "__main__":
    sys.exit(main())
