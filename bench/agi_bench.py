"""One ring_twice call (role `agent`): classic process AGI against FastAGI, calls/s and latency.

(a) classic: one `agi_scripts/ring_twice.py` process per call, as Asterisk spawns it (process
    start, imports and config load included), spoken to over its pipes;
(b) FastAGI: one TCP connection per call, `agi_network_script: ring_twice`, arg `agent`. Without
    `--fastagi HOST:PORT` the daemon's server (`pbx_bridge.agi.server` with the daemon's routes)
    runs in this process, on the same loop as the clients, so its figures include the client side.

Both play Asterisk with tests/support/agi_peer.py, at concurrency 1 and 200.

    .venv/bin/python bench/agi_bench.py [--fastagi 127.0.0.1:4573] [--fast-calls 400] [--classic-calls 200]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx_bridge import logs  # noqa: E402
from pbx_bridge.agi.server import FastAgiServer  # noqa: E402
from pbx_bridge.config import load_config  # noqa: E402
from pbx_bridge.ring_twice.route import ring_twice  # noqa: E402
from tests.support.agi_peer import AGI_SECRET, AgiPeer  # noqa: E402

SCRIPT = ROOT / "agi_scripts" / "ring_twice.py"
EXPECTED = ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]


async def classic_call(env: dict[str, str]) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "agent", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    commands = await AgiPeer(args=["agent"]).talk(proc.stdout, proc.stdin)
    await proc.wait()
    if proc.returncode:
        raise RuntimeError(f"ring_twice.py exited {proc.returncode}")
    return commands


async def fast_call(host: str, port: int) -> list[str]:
    secret = os.environ.get("PBX_BRIDGE_AGI_SECRET", AGI_SECRET)  # --fastagi: the daemon's secret
    return await AgiPeer.fastagi("ring_twice", ["agent"], host, port, secret=secret).call_fastagi(host, port)


async def measure(call, n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            start = time.perf_counter()
            commands = await call()
            latencies.append(time.perf_counter() - start)
            if commands != EXPECTED:
                raise RuntimeError(f"unexpected commands: {commands}")

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - start, latencies


def report(mode: str, concurrency: int, elapsed: float, latencies: list[float]) -> None:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"{mode:<9} c={concurrency:<4} {len(latencies):>5} calls in {elapsed:6.2f} s = {len(latencies) / elapsed:8.1f} calls/s"
          f"   p50 {cuts[49] * 1000:8.1f} ms   p99 {cuts[98] * 1000:8.1f} ms", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fastagi", metavar="HOST:PORT", help="a running FastAGI server (default: start one here)")
    parser.add_argument("--fast-calls", type=int, default=400)
    parser.add_argument("--classic-calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--skip", choices=["classic", "fastagi"])
    args = parser.parse_args()
    logs.configure("console", "warning")  # the daemon's routes log each call at info
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text("ami:\n  host: 127.0.0.1\nagi:\n  port: 0\n", encoding="utf-8")
        env = {**os.environ, "PBX_BRIDGE_CONFIG": str(config_path), "PBX_BRIDGE_AMI_SECRET": "x",
               "PBX_BRIDGE_AGI_SECRET": os.environ.get("PBX_BRIDGE_AGI_SECRET", AGI_SECRET)}

        if args.skip != "fastagi":
            server_task = None
            if args.fastagi:
                host, _, port_text = args.fastagi.rpartition(":")
                port = int(port_text)
            else:
                cfg = load_config(str(config_path), env)
                server = FastAgiServer(cfg.agi, {"ring_twice": ring_twice(cfg)})
                server_task = asyncio.create_task(server.run())
                while not server.listening:
                    await asyncio.sleep(0.01)
                host, port = cfg.agi.host, server.port
            for concurrency in args.concurrency:
                report("fastagi", concurrency, *await measure(lambda: fast_call(host, port), args.fast_calls, concurrency))
            if server_task is not None:
                server_task.cancel()

        if args.skip != "classic":
            for concurrency in args.concurrency:
                report("classic", concurrency, *await measure(lambda: classic_call(env), args.classic_calls, concurrency))


if __name__ == "__main__":
    asyncio.run(main())
