"""`make demo`: the lab Asterisk, the daemon on SQLite, calls of each outcome, what it recorded.

Everything lands in ./demo-out/ (the store, the daemon's JSON log, the exports).
"""

from __future__ import annotations

import csv
import io
import shutil
import sys
import time
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab.core import exclusive_lab
from lab import Lab, traffic  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

OUT = REPO / "demo-out"
SCENARIOS = ("answered", "answered_agent_hangup", "abandoned", "ring_no_answer", "timeout", "exit_empty",
             "chinese_caller", "busy_unavailable", "sip_call")


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(csv_text: str, columns: list[str]) -> str:
    rows = [{c: r[c] or "" for c in columns} for r in csv.DictReader(io.StringIO(csv_text))]
    widths = {c: max([width(c)] + [width(r[c]) for r in rows]) for c in columns}
    pad = lambda text, c: text + " " * (widths[c] - width(text))  # noqa: E731
    lines = ["  ".join(pad(c, c) for c in columns)]
    lines += ["  ".join(pad(r[c], c) for c in columns) for r in rows]
    return "\n".join(lines)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("pbx1*"):  # the last run's config, log and spool directory
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    (OUT / "store.db").unlink(missing_ok=True)
    with exclusive_lab():
        lab = Lab().ensure()
        print(f"== lab: starting Asterisk 22 with dialplan/ ({lab.root})", flush=True)
        lab.start()
        daemon = DaemonProcess(OUT, f"sqlite:///{OUT}/store.db")
        try:
            daemon.start()
            print(f"== daemon: connected to AMI; store {OUT}/store.db; log {daemon.log_path}", flush=True)
            placed = 0
            with lab.ami() as ami:
                for name in SCENARIOS:
                    started = time.monotonic()
                    result = traffic.SCENARIOS[name](ami)
                    placed += len(result["calls"])
                    print(f"   call: {name:<24} done in {time.monotonic() - started:4.1f} s", flush=True)
            daemon.wait_for("call_recorded", count=placed, timeout=60)
            time.sleep(1)
        finally:
            daemon.stop()
            lab.stop()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first, last = str(today - timedelta(days=1)), str(today)
    calls_csv = daemon.export("calls", first, last, "csv")
    offers_csv = daemon.export("offers", first, last, "csv")
    (OUT / "calls.csv").write_text(calls_csv)
    (OUT / "offers.csv").write_text(offers_csv)
    print("\n== calls recorded (pbx-bridge calls export --format csv; full file demo-out/calls.csv)")
    print(table(calls_csv, ["uniqueid", "queue", "caller_num", "caller_name", "outcome", "wait_s", "agent",
                            "ring_s", "talk_s", "ended_by"]))
    print("\n== offers recorded (pbx-bridge offers export; demo-out/offers.csv)")
    print(table(offers_csv, ["uniqueid", "queue", "agent", "ring_s", "rings", "result"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
