"""The store writer alone, no lab: put -> committed row latency and batch sizes, SQLite and PostgreSQL.

Call records are put at `--rate` per second (each with its event time = the put), as the tracker
hands them over, into a `StoreWriter` at its packaged settings; the writer's own histogram gives
p50/p99/max. `--tree DIR` (repeatable) measures the `pbx_bridge` of other checkouts too (e.g. the
parent commit, `git archive <commit> | tar -x -C DIR`), alternating trees and rounds in one run so
that a shared machine's load hits them alike. `--rollups` also runs this checkout's writer with the
rollups room's batch hook (as the daemon runs it), beside the writer alone, in each round.

    .venv/bin/python bench/writer_latency.py [--tree /tmp/base] [--rollups] [--records 600] [--rate 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


async def child(url: str, records: int, rate: float, rollups: bool = False) -> None:
    """Runs with cwd = the tree measured: its pbx_bridge, its writer."""
    sys.path.insert(0, os.getcwd())
    from pbx_bridge import logs
    from pbx_bridge.rooms import record_kinds, upgrade
    from pbx_bridge.store.engine import async_engine
    from pbx_bridge.store.writer import StoreWriter
    from tests.conftest import make_call

    logs.configure("console", "warning")
    upgrade(url)
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    if rollups:  # as the rollups room wires it, on the packaged settings
        from pbx_bridge.config import Config
        from pbx_bridge.config import _deep_merge, packaged_defaults
        from pbx_bridge.rollups.keeper import RollupKeeper
        from pbx_bridge.rollups.wiring import basis

        writer.add_batch_hook(RollupKeeper(basis(Config.model_validate(_deep_merge(packaged_defaults(), {"ami": {"host": "127.0.0.1"}})))).hook)
    task = asyncio.create_task(writer.run())
    tag = os.urandom(3).hex()
    for i in range(records):
        await asyncio.sleep(1 / rate)
        writer.put(make_call(f"{tag}.{i}"), event_ts=time.time())
    await writer.wait_written()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    health = writer.health()
    lat = health["latency"]
    print(f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms; {health['batches']} batches "
          f"{health.get('batch_sizes', '(sizes not counted)')}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rollups", action="store_true", help="also this checkout's writer with the rollups hook")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-rollups", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return asyncio.run(child(args.child, args.records, args.rate, args.child_rollups))
    sys.path.insert(0, str(REPO))
    from tests.support.postgres import PostgresServer

    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; {args.records} records at "
          f"{args.rate}/s per run")
    pg = PostgresServer().start()
    try:
        for round_no in range(1, args.rounds + 1):
            runs = [(tree, False) for tree in [*args.tree, REPO]] + ([(REPO, True)] if args.rollups else [])
            for tree, rollups in runs:
                for name, url in (("sqlite", f"sqlite:///{tempfile.mkdtemp()}/w.db"), ("postgres", pg.url)):
                    done = subprocess.run([sys.executable, __file__, "--child", url, "--records", str(args.records),
                                           "--rate", str(args.rate), *(["--child-rollups"] if rollups else [])],
                                          cwd=tree, capture_output=True, text=True)
                    label = f"{tree}{' +rollups' if rollups else ''}"
                    print(f"round {round_no} {label:<32} {name:<8} "
                          f"{done.stdout.strip() or done.stderr.strip()[-400:]}", flush=True)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
