"""AMI events per second: our protocol + tracker vs panoramisk's own parse and dispatch.

Replays transcripts recorded from the lab (tests/transcripts) many times, in 4 KiB reads as TCP
delivers them: `mixed.ami` as the shipped manager user receives it (Asterisk filters the events),
and `abandoned.unfiltered.ami` as a user without an event filter does (most frames are events no
one subscribed to). Beside them, the bare cost of cutting the same bytes into frames: the ceiling
any parser in Python stays under. Times are this process's CPU time (`time.process_time`), and the
machine is shared, so each round times every contender back to back and the ratios are taken
within a round; the medians over the rounds are printed last.

    .venv/bin/python bench/ami_pipeline.py [--repeat 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This checkout's pbx_bridge, not the one the venv was installed from.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402
from panoramisk.manager import Manager  # noqa: E402

from pbx_bridge import logs  # noqa: E402
from pbx_bridge.ami.transcript import _NullTransport, replay  # noqa: E402
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker  # noqa: E402
from pbx_bridge.ring import RingConfig  # noqa: E402
from pbx_bridge.store.engine import async_engine  # noqa: E402
from pbx_bridge.rooms import record_kinds, upgrade  # noqa: E402
from pbx_bridge.store.writer import StoreWriter  # noqa: E402

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "tests" / "transcripts"
RING = RingConfig(cadence="cn", two_rings="end_of_second_ring")
STREAMS = (("mixed.ami", "filtered (as shipped)"), ("abandoned.unfiltered.ami", "unfiltered"))
READ = 4096
FRAME_END = b"\r\n\r\n"


def frames_in(data: bytes) -> int:
    return data.count(FRAME_END)


def reads_of(data: bytes) -> list[bytes]:
    return [data[start:start + READ] for start in range(0, len(data), READ)]


def ceiling(data: bytes, repeat: int) -> float:
    """Bytes in, frames out, nothing else: what splitting alone costs."""
    reads = reads_of(data)
    started = time.process_time()
    for _ in range(repeat):
        rest = b""
        for piece in reads:
            frames = (rest + piece).split(FRAME_END)
            rest = frames.pop()
    return time.process_time() - started


def ours(data: bytes, repeat: int) -> tuple[float, int]:
    records: list = []
    tracker = CallTracker("bench", RING, records.append)
    started = time.process_time()
    for _ in range(repeat):
        replay(data, tracker.handle, WANTED_EVENTS, chunk=READ)
    return time.process_time() - started, len(records)


async def stock(data: bytes, repeat: int) -> float:
    """panoramisk 1.4 as shipped: its protocol and Manager.dispatch with one catch-all handler."""
    manager = Manager(loop=asyncio.get_running_loop())
    manager.register_event("*", lambda mgr, event: None)
    reads = reads_of(data)
    started = time.process_time()
    for _ in range(repeat):
        protocol = AMIProtocol()
        protocol.connection_made(_NullTransport())
        protocol.factory = manager
        protocol.encoding = "utf-8"
        for piece in reads:
            protocol.data_received(piece)
    return time.process_time() - started


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


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        ram = 0.0
    return f"{platform.machine()} {model}, nproc {os.cpu_count()}, {ram:.1f} GiB RAM, python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-store", action="store_true", help="skip the store figure")
    args = parser.parse_args()
    logs.configure("console", "warning")  # the daemon's hot path at its production level, minus I/O
    print(f"machine: {machine()}; repeat={args.repeat}, rounds={args.rounds}, {READ} B reads")
    streams = [(name, kind, (TRANSCRIPTS / name).read_bytes()) for name, kind in STREAMS]
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in streams}
    rates: dict[str, dict[str, list[float]]] = {name: {"ceiling": [], "ours": [], "stock": []} for name, _, _ in streams}
    for round_no in range(1, args.rounds + 1):
        for name, kind, data in streams:
            frames = frames_in(data) * args.repeat
            split_s = ceiling(data, args.repeat)
            ours_s, _ = ours(data, args.repeat)
            stock_s = asyncio.run(stock(data, args.repeat))
            rates[name]["ceiling"].append(frames / split_s)
            rates[name]["ours"].append(frames / ours_s)
            rates[name]["stock"].append(frames / stock_s)
            ratios[name].append(stock_s / ours_s)
            print(f"round {round_no}  {name:<25} {kind:<22} {frames:>7} frames  "
                  f"bytes split {frames / split_s:>11,.0f}/s  pbx-bridge (parse+filter+track) {frames / ours_s:>9,.0f}/s  "
                  f"panoramisk (parse+dispatch) {frames / stock_s:>9,.0f}/s  ratio {stock_s / ours_s:4.2f}x")
    print("medians over the rounds (frames/s; ratio = panoramisk's time / ours, within each round):")
    for name, kind, _ in streams:
        med = {key: statistics.median(values) for key, values in rates[name].items()}
        print(f"  {name:<25} {kind:<22} bytes split {med['ceiling']:>11,.0f}  pbx-bridge {med['ours']:>9,.0f}  "
              f"panoramisk {med['stock']:>9,.0f}  ratio {statistics.median(ratios[name]):4.2f}x "
              f"(range {min(ratios[name]):.2f}-{max(ratios[name]):.2f})")
    if args.no_store:
        return
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
