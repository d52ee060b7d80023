"""One ring_twice call (role `agent`): classic process AGI against FastAGI, calls/s and latency.

(a) classic: one `agi_scripts/ring_twice.py` process per call, as Asterisk spawns it (process
    start, imports and config load included), spoken to over its pipes;
(b) FastAGI: one TCP connection per call, `agi_network_script: ring_twice`, arg `agent`. Without
    `--fastagi HOST:PORT` the daemon's server (`pbx_bridge.agi.server` with the daemon's routes)
    runs in this process, on the same loop as the clients, so its figures include the client side.

Both play Asterisk with tests/support/agi_peer.py, at concurrency 1 and 200.

    .venv/bin/python bench/agi_bench.py [--fastagi 127.0.0.1:4573] [--fast-calls 400] [--classic-calls 200]

`--per-session` measures the server alone instead: the FastAGI server (the daemon's, with its
ring_twice route) and a bare asyncio server that sends the same two commands, each in a process
of its own, are sent `--sessions` sessions at `--rate` per second from this process; the figure is
the server process's CPU time (utime + stime) per session, and the ratio of the two, in one run,
alternating the two servers `--rounds` times so that a neighbour's load hits both alike.

    .venv/bin/python bench/agi_bench.py --per-session [--sessions 4000] [--rate 500] [--rounds 3]
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


async def serve(kind: str) -> None:
    """The server process of --per-session: print the port, serve until stdin closes."""
    if kind == "bare":
        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while (await reader.readline()).strip():  # the AGI environment, up to its blank line
                pass
            for command in EXPECTED:
                writer.write(command.encode() + b"\n")
                await writer.drain()
                await reader.readline()
            writer.close()

        server = await asyncio.start_server(session, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    else:
        config_path = Path(tempfile.mkdtemp()) / "config.yaml"
        # max_sessions above the burst: a refused session costs less and would flatter the figure
        config_path.write_text("ami:\n  host: 127.0.0.1\nagi:\n  port: 0\n  max_sessions: 5000\n", encoding="utf-8")
        cfg = load_config(str(config_path), {**os.environ, "PBX_BRIDGE_AMI_SECRET": "x",
                                             "PBX_BRIDGE_AGI_SECRET": AGI_SECRET})
        fast = FastAgiServer(cfg.agi, {"ring_twice": ring_twice(cfg)})
        task = asyncio.create_task(fast.run())
        while not fast.listening:
            await asyncio.sleep(0.01)
        port = fast.port
    print(port, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the bench closes our stdin
    if kind != "bare":
        task.cancel()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_cpu_per_session(kind: str, sessions: int, rate: float) -> float:
    """CPU ms of the server process per session, `sessions` sessions started at `rate` per second."""
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", kind,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    port = int(await proc.stdout.readline())
    secret = AGI_SECRET if kind != "bare" else None

    async def one() -> None:
        commands = await AgiPeer.fastagi("ring_twice", ["agent"], "127.0.0.1", port, secret=secret).call_fastagi(
            "127.0.0.1", port)
        if commands != EXPECTED:
            raise RuntimeError(f"{kind}: unexpected commands: {commands}")

    try:
        await asyncio.gather(*(one() for _ in range(200)))  # warm-up, not counted
        before = cpu_s(proc.pid)
        tasks, start = [], time.perf_counter()
        for i in range(sessions):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        return (cpu_s(proc.pid) - before) / sessions * 1000
    finally:
        proc.stdin.close()
        await proc.wait()


async def per_session(args) -> None:
    print(f"server CPU per session: {args.sessions} sessions at {args.rate}/s, {args.rounds} rounds "
          f"(bare asyncio server, then pbx-bridge's FastAGI server, each round)")
    ratios = []
    for round_no in range(1, args.rounds + 1):
        bare = await server_cpu_per_session("bare", args.sessions, args.rate)
        fast = await server_cpu_per_session("fastagi", args.sessions, args.rate)
        ratios.append(fast / bare)
        print(f"round {round_no}: bare {bare:.3f} ms   fastagi {fast:.3f} ms   ratio {fast / bare:.2f}x", flush=True)
    print(f"ratio fastagi/bare: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fastagi", metavar="HOST:PORT", help="a running FastAGI server (default: start one here)")
    parser.add_argument("--fast-calls", type=int, default=400)
    parser.add_argument("--classic-calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--skip", choices=["classic", "fastagi"])
    parser.add_argument("--per-session", action="store_true", help="server CPU per session, FastAGI vs bare asyncio")
    parser.add_argument("--sessions", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=["bare", "fastagi"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        logs.configure("console", "warning")
        return await serve(args.serve)
    logs.configure("console", "warning")  # the daemon's routes log each call at info
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    if args.per_session:
        return await per_session(args)

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
