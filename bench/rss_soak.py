"""Does the daemon's memory settle? Push a recorded load transcript at it again and again.

`bench/load.py --record` keeps what the shipped manager user was sent during a load run
(`<workdir>/load.ami`). This replays it PASSES times, with new uniqueids each time, from a
scripted AMI server (tests/support/fake_ami.py) into the real `pbx-bridge run` (SQLite), and
prints the daemon's VmRSS after each pass. No lab and no root needed.

    .venv/bin/python bench/rss_soak.py /tmp/pbx-load-XXXX/load.ami [--passes 15] [--gap 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.daemon import DaemonProcess  # noqa: E402
from tests.support.fake_ami import FakeAmi  # noqa: E402


def rss_mib(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transcript", type=Path)
    parser.add_argument("--passes", type=int, default=15)
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between passes")
    parser.add_argument("--agi-port", type=int, default=4597, help="a free port (the lab's daemon has 4573)")
    args = parser.parse_args()
    data = args.transcript.read_bytes()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    fake = FakeAmi(secret="soak")
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result()
    work = Path(tempfile.mkdtemp(prefix="pbx-soak-"))
    daemon = DaemonProcess(work, f"sqlite:///{work}/store.db", pbx="soak", secret="soak",
                           ami={"port": fake.port, "ping_interval": 10, "ping_timeout": 5},
                           agi={"port": args.agi_port}, store={"flush_interval": 0.5}).start()
    try:
        print(f"start: {rss_mib(daemon.proc.pid):.1f} MiB", flush=True)
        for i in range(args.passes):
            # new uniqueids and linkedids each pass (Asterisk's start-time prefix replaced)
            again = re.sub(rb"(Uniqueid|Linkedid): \d{4}", lambda m: m.group(1) + b": " + b"%04d" % (i + 1000), data)
            asyncio.run_coroutine_threadsafe(fake.push(again), loop).result()
            time.sleep(args.gap)
            print(f"pass {i + 1}: {rss_mib(daemon.proc.pid):.1f} MiB", flush=True)
    finally:
        daemon.stop()
    stopped = [json.loads(line) for line in daemon.log_path.read_text().splitlines()
               if '"daemon_stopped"' in line]
    print(f"written: {stopped[-1]['written'] if stopped else '?'} records")


if __name__ == "__main__":
    main()
