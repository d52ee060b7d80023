"""AMI events per second: our protocol + tracker vs panoramisk's own parse and dispatch.

Replays transcripts recorded from the lab (tests/transcripts) many times, in 4 KiB reads as TCP
delivers them. Prints one line per measurement; docs/benchmarks.md quotes them.

    .venv/bin/python bench/ami_pipeline.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager

from pbx_bridge import logs
from pbx_bridge.ami.transcript import _NullTransport, replay
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.ring import RingConfig
from pbx_bridge.store.engine import async_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.writer import StoreWriter

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "tests" / "transcripts"
RING = RingConfig(cadence="cn", two_rings="end_of_second_ring")


def frames_in(data: bytes) -> int:
    return data.count(b"\r\n\r\n")


def ours(data: bytes, repeat: int) -> tuple[float, int]:
    records: list = []
    tracker = CallTracker("bench", RING, records.append)
    started = time.perf_counter()
    for _ in range(repeat):
        replay(data, tracker.handle, WANTED_EVENTS)
    return time.perf_counter() - started, len(records)


async def stock(data: bytes, repeat: int) -> float:
    """panoramisk 1.4 as shipped: its protocol and Manager.dispatch with one catch-all handler."""
    manager = Manager(loop=asyncio.get_running_loop())
    manager.register_event("*", lambda mgr, event: None)
    started = time.perf_counter()
    for _ in range(repeat):
        protocol = AMIProtocol()
        protocol.connection_made(_NullTransport())
        protocol.factory = manager
        protocol.encoding = "utf-8"
        for start in range(0, len(data), 4096):
            protocol.data_received(data[start:start + 4096])
    return time.perf_counter() - started


async def store_rate(records: list, url: str) -> float:
    upgrade(url)
    engine = async_engine(url)
    writer = StoreWriter(engine, batch_size=200, kinds=record_kinds())
    for record in records:
        writer.put(record)
    started = time.perf_counter()
    await writer.flush()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    logs.configure("console", "warning")  # the daemon's hot path at its production level, minus I/O
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"repeat={args.repeat}")
    for name in ("mixed.ami", "abandoned.unfiltered.ami"):
        data = (TRANSCRIPTS / name).read_bytes()
        frames = frames_in(data) * args.repeat
        ours_s, _ = ours(data, args.repeat)
        stock_s = asyncio.run(stock(data, args.repeat))
        print(f"{name:<26} {frames:>8} frames  pbx-bridge (parse+filter+track) {frames / ours_s:>9,.0f} ev/s   "
              f"panoramisk (parse+dispatch only) {frames / stock_s:>9,.0f} ev/s")
    records: list = []
    tracker = CallTracker("bench", RING, records.append)
    data = (TRANSCRIPTS / "mixed.ami").read_bytes()
    for i in range(args.repeat):
        replay(data.replace(b"Uniqueid: 1795", f"Uniqueid: {i:04d}".encode()), tracker.handle, WANTED_EVENTS)
    with tempfile.TemporaryDirectory() as tmp:
        elapsed = asyncio.run(store_rate(records, f"sqlite:///{tmp}/bench.db"))
    print(f"store (SQLite WAL, batches of 200 upserts): {len(records)} records in {elapsed:.2f} s = "
          f"{len(records) / elapsed:,.0f} records/s")


if __name__ == "__main__":
    main()
