"""Load: SIPp callers keep 200+ calls at once in a lab queue; the real daemon records them all.

SIPp (lab/sipp/load_caller_uac.xml) places calls at a steady rate as the pjsip endpoint
`loadcaller`: the shipped inbound context (ring-twice over the daemon's FastAGI, Answer, Queue)
into the lab queue `lab-load`, whose members are Local-channel agents (`[lab-load-agents]`):
most answer after 1-3 s, one in ten never answers (and is paused by the daemon after two misses),
one in ten hangs up after 12 s. Customers stay 20-40 s after the PBX answered; 15 % are
impatient (4-15 s). With the queue's 20 s max wait this gives answered, abandoned and timed-out
calls. The daemon runs as `pbx-bridge run`, a child process, at its packaged store settings.

Measured:
- concurrency: SIPp's own count of calls up (1 s), and Asterisk's channels and waiting callers;
- the latency from the AMI event that finished a call (its `Timestamp`) to the commit of the
  batch with its row, from the daemon's own histogram (`store_latency`, `daemon_stopped`);
- the daemon's resident memory (VmRSS, every second) and CPU;
- calls lost: every call in Asterisk's queue_log (the oracle) must be in the store.

    sudo .venv/bin/python bench/load.py [--rate 8] [--duration 150] [--agents 220]
                                        [--store sqlite|postgres|both] [--out FILE]

`--store both` (the default, `make load`) runs SQLite then PostgreSQL, one after the other with the
same calls, and prints their latencies and batch sizes side by side. It takes the lab lock (one
lab per machine) for each store and writes bench/results/load-<store>-<time>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

from lab.core import Lab, exclusive_lab  # noqa: E402
from lab.sipp import SIPP_DIR, sipp_bin  # noqa: E402
from tests.support import queue_log  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

RESULTS = REPO / "bench" / "results"
QUEUE = "lab-load"
AGENT_BASE = 5000
SIP_PORT = 5081
NAMES = ["张三丰", "李四", "王五", "赵六", "Alice Wang", "Bob Li", "Carol Zhao", "陈小明", "刘芳", "Customer"]


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    sipp_version = subprocess.run([sipp_bin(), "-v"], capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(mem_kb / 2**20, 1),
            "arch": platform.machine(), "kernel": platform.release(), "python": platform.python_version(),
            "sipp": (re.search(r"SIPp v[\w.\-]+", sipp_version) or [sipp_version.strip()])[0]}


def write_injection(path: Path, calls: int, seed: int) -> dict:
    """One line per call: caller number; caller name; ms on the line after the PBX answered."""
    rnd = random.Random(seed)
    holds = []
    with open(path, "w", encoding="utf-8") as out:
        out.write("SEQUENTIAL\n")
        for _ in range(calls):
            number = f"139{rnd.randint(0, 99999):08d}" if rnd.random() < 0.9 else f"1380000{rnd.randint(0, 20):04d}"
            hold = rnd.uniform(4, 15) if rnd.random() < 0.15 else rnd.uniform(20, 40)
            holds.append(hold)
            out.write(f"{number};{rnd.choice(NAMES)};{int(hold * 1000)};\n")
    return {"mean_hold_s": round(statistics.mean(holds), 1), "min_hold_s": round(min(holds), 1),
            "max_hold_s": round(max(holds), 1)}


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float | None:
    try:
        match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return round(int(match.group(1)) / 1024, 1) if match else None


class Sampler(threading.Thread):
    """Every second: the daemon's RSS and CPU; every two: Asterisk's channels and the queue."""

    def __init__(self, lab: Lab, daemon_pid: int, asterisk_pid: int | None) -> None:
        super().__init__(daemon=True, name="sampler")
        self.lab, self.daemon_pid, self.asterisk_pid = lab, daemon_pid, asterisk_pid
        self.t0 = time.monotonic()
        self.rows: list[dict] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with self.lab.ami(events=False) as ami:
            tick = 0
            while not self.stopping.is_set():
                row = {"t": round(time.monotonic() - self.t0, 1), "rss_mib": rss_mib(self.daemon_pid),
                       "daemon_cpu_s": cpu_seconds(self.daemon_pid),
                       "asterisk_cpu_s": cpu_seconds(self.asterisk_pid) if self.asterisk_pid else None}
                if tick % 2 == 0:
                    row.update(self._asterisk(ami))
                self.rows.append(row)
                tick += 1
                self.stopping.wait(max(0.0, self.t0 + tick - time.monotonic()))

    @staticmethod
    def _asterisk(ami) -> dict:
        out: dict = {}
        try:
            reply = ami.action("Command", Command="core show channels count", timeout=5)
            text = reply.get("Output", "") + "\n" + "\n".join(reply.get("__text__", []))
            for key, pattern in (("channels", r"(\d+) active channels?"), ("calls", r"(\d+) active calls?")):
                if found := re.search(pattern, text):
                    out[key] = int(found.group(1))
            summary = ami.action("QueueSummary", Queue=QUEUE, collect="QueueSummaryComplete", timeout=5)
            for item in summary.get("__events__", []):
                out["waiting"] = int(item.get("Callers", 0))
                out["agents_available"] = int(item.get("Available", 0))
        except Exception as exc:  # noqa: BLE001 - a missed sample is not a failed run
            out["error"] = repr(exc)[:100]
        return out


def read_sipp_stats(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle, delimiter=";") if row.get("CurrentCall")]


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def series(rows: list[dict], key: str, every: float) -> list[tuple[float, float]]:
    out, next_t = [], 0.0
    for row in rows:
        if row.get(key) is not None and row["t"] >= next_t:
            out.append((row["t"], row[key]))
            next_t = row["t"] + every
    return out


def wait_until(predicate, timeout: float, step: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="pbx-load-"))
    calls_total = int(args.rate * args.duration)
    injection = work / "calls.csv"
    holds = write_injection(injection, calls_total, args.seed)
    pg = None
    if args.store == "postgres":
        from tests.support.postgres import PostgresServer

        pg = PostgresServer().start()
        store_url = pg.url
    else:
        store_url = f"sqlite:///{work}/store.db"
    result: dict = {"machine": machine(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "params": {"rate_cps": args.rate, "duration_s": args.duration, "calls": calls_total,
                               "limit": args.limit, "agents": args.agents, "store": args.store,
                               "max_wait_s": 20, "seed": args.seed, **holds},
                    "workdir": str(work)}
    try:
        with exclusive_lab():
            lab = Lab().ensure().start()
            try:
                result["asterisk"] = lab.cli("core show version").strip().split(" built")[0]
                lab.clear_queue_log()
                with lab.ami(events=False) as ami:
                    for i in range(args.agents):
                        ext = AGENT_BASE + i
                        reply = ami.action("QueueAdd", Queue=QUEUE, Interface=f"Local/{ext}@lab-load-agents/n",
                                           MemberName=f"Load {ext}", StateInterface=f"Local/{ext}@lab-load-agents")
                        if reply.get("Response") != "Success":
                            raise RuntimeError(f"QueueAdd {ext}: {reply}")
                daemon = DaemonProcess(
                    work, store_url, pbx="load",
                    # the packaged defaults for what is measured (the test runner's are quicker)
                    ami={"ping_interval": 10, "ping_timeout": 5},
                    store={"flush_interval": 0.5, "batch_size": 200},
                    logging={"format": "json", "level": "info"},
                ).start()
                try:
                    result.update(drive(args, lab, daemon, work, injection, calls_total))
                finally:
                    daemon.stop()
                result.update(check(lab, daemon, result))
            finally:
                lab.stop()
    finally:
        if pg is not None:
            pg.stop()
    return result


def drive(args, lab: Lab, daemon: DaemonProcess, work: Path, injection: Path, calls_total: int) -> dict:
    recorder = None
    if args.record:  # what the shipped (filtered) manager user is sent, beside the daemon, for replay
        from lab.ami import Recorder

        recorder = Recorder(lab.ami_host, lab.ami_port, lab.ami_user, lab.ami_secret)
    sampler = Sampler(lab, daemon.proc.pid, lab._pid())
    sampler.start()
    time.sleep(3)  # the daemon's idle baseline
    stat_file = work / "sipp-stats.csv"
    sipp_started = time.monotonic()
    sipp = subprocess.run(
        [sipp_bin(), f"{lab.sip_host}:{lab.sip_port}", "-sf", str(SIPP_DIR / "load_caller_uac.xml"),
         "-inf", str(injection), "-i", "127.0.0.1", "-p", str(SIP_PORT), "-mp", str(SIP_PORT + 2000),
         "-s", "4000", "-r", str(args.rate), "-l", str(args.limit), "-m", str(calls_total),
         "-nostdin", "-trace_stat", "-stf", str(stat_file), "-fd", "1", "-trace_err",
         "-timeout", str(int(args.duration + 180)), "-timeout_error"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "sipp.err", "wb"))
    sipp_s = time.monotonic() - sipp_started
    sipp_t0 = sipp_started - sampler.t0
    # Asterisk empties (calls SIPp gave up on end by themselves), then the daemon's last batch lands
    with lab.ami(events=False) as ami:
        wait_until(lambda: Sampler._asterisk(ami).get("channels", 1) == 0, timeout=60)
    oracle_n = len(queue_log.parse(lab.queue_log_lines()))
    wait_until(lambda: len([line for line in daemon.lines() if line.get("event") == "call_recorded"]) >= oracle_n,
               timeout=60)
    time.sleep(2)
    sampler.stopping.set()
    sampler.join(10)
    if recorder is not None:
        (work / "load.ami").write_bytes(recorder.stop())
    stats = read_sipp_stats(stat_file)
    last = stats[-1] if stats else {}
    return {"sipp": {"exit": sipp.returncode, "seconds": round(sipp_s, 1),
                     "placed": int(last.get("OutgoingCall(C)", 0) or 0),
                     "successful": int(last.get("SuccessfulCall(C)", 0) or 0),
                     "ended_by_pbx": int(last.get("FailedUnexpectedMessage(C)", 0) or 0),
                     "failed": int(last.get("FailedCall(C)", 0) or 0),
                     "retransmissions": int(last.get("Retransmissions(C)", 0) or 0)},
            "_samples": sampler.rows, "_sipp_rows": stats, "_sipp_t0": sipp_t0}


def check(lab: Lab, daemon: DaemonProcess, result: dict) -> dict:
    oracle = queue_log.parse(lab.queue_log_lines())
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    rows = [json.loads(line) for line in daemon.export(
        "calls", str(today - timedelta(days=1)), str(today + timedelta(days=1))).splitlines()]
    stored = {row["uniqueid"]: row for row in rows}
    lost = sorted(set(oracle) - set(stored))
    def differs(row: dict, truth) -> bool:  # as the lab tests compare (queue_log keeps whole seconds)
        return (row["outcome"] != truth.outcome or row["agent"] != truth.agent
                or (truth.ended_by is not None and row["ended_by"] != truth.ended_by)
                or (truth.wait_s is not None and abs((row["wait_s"] or 0) - truth.wait_s) > 1.0))

    disagree = [callid for callid, truth in oracle.items() if callid in stored and differs(stored[callid], truth)]
    lines = daemon.lines()
    by_event = Counter(line.get("event") for line in lines)
    levels = Counter(line.get("level") for line in lines)
    stopped = next((line for line in reversed(lines) if line.get("event") == "daemon_stopped"), {})
    windows = [{k: line.get(k) for k in ("timestamp", "count", "p50_ms", "p99_ms", "max_ms", "pending")}
               for line in lines if line.get("event") == "store_latency"]

    samples, sipp_rows, sipp_t0 = result.pop("_samples"), result.pop("_sipp_rows"), result.pop("_sipp_t0")
    params = result["params"]
    placing_s = params["calls"] / params["rate_cps"]
    # steady: from when the longest call placed first could have ended (ring-twice 6 s, then on
    # the line) until the last call was placed
    steady = (6 + params["max_hold_s"], placing_s)
    concurrent = [int(r["CurrentCall"]) for r in sipp_rows]
    steady_concurrent = [int(r["CurrentCall"]) for i, r in enumerate(sipp_rows) if steady[0] <= i + 1 <= steady[1]]
    rss = [r["rss_mib"] for r in samples if r.get("rss_mib") is not None]
    in_run = [r for r in samples if sipp_t0 + steady[0] <= r["t"] <= sipp_t0 + steady[1]]

    def cpu_share(key: str) -> float | None:
        pts = [r for r in in_run if r.get(key) is not None]
        if len(pts) < 2 or pts[-1]["t"] <= pts[0]["t"]:
            return None
        return round((pts[-1][key] - pts[0][key]) / (pts[-1]["t"] - pts[0]["t"]) * 100, 1)

    recorded_per_s = None
    if oracle:
        entered = sorted(c.entered_at for c in oracle.values())
        span = entered[-1] - entered[0]
        recorded_per_s = round((len(entered) - 1) / span, 2) if span > 0 else None
    return {
        "concurrency": {"sipp_max": max(concurrent, default=0),
                        "sipp_steady_min": min(steady_concurrent, default=0),
                        "sipp_steady_mean": round(statistics.mean(steady_concurrent), 1) if steady_concurrent else 0,
                        "asterisk_channels_max": max((r.get("channels", 0) for r in samples), default=0),
                        "asterisk_calls_max": max((r.get("calls", 0) for r in samples), default=0),
                        "queue_waiting_max": max((r.get("waiting", 0) for r in samples), default=0),
                        "steady_window_s": [round(steady[0]), round(steady[1])]},
        "calls": {"queue_log": len(oracle), "stored": len(stored), "lost": len(lost), "lost_ids": lost[:20],
                  "extra_in_store": len(set(stored) - set(oracle)),
                  "disagree_with_queue_log": len(disagree), "disagree_ids": disagree[:20],
                  "incomplete": sum(1 for r in stored.values() if r["incomplete"]),
                  "outcomes": dict(Counter(r["outcome"] for r in stored.values())),
                  "queue_log_outcomes": dict(Counter(c.outcome for c in oracle.values())),
                  "entered_per_s": recorded_per_s},
        "latency": {"source": "daemon histogram: AMI event Timestamp -> batch commit", **stopped.get("latency", {}),
                    "in_writer": stopped.get("latency_in_writer"),
                    "unmeasured": len(stored) - (stopped.get("latency") or {}).get("count", 0),
                    "windows": windows},
        "daemon": {"rss_mib": {"start": rss[0] if rss else None, "peak": max(rss, default=None),
                               "end": rss[-1] if rss else None},
                   "cpu_percent_steady": cpu_share("daemon_cpu_s"),
                   "asterisk_cpu_percent_steady": cpu_share("asterisk_cpu_s"),
                   "ami_connects": by_event.get("ami_connected", 0), "ami_gaps": by_event.get("ami_gap", 0),
                   "ring_twice_applied": by_event.get("ring_twice_applied", 0),
                   "agents_paused": by_event.get("agent_paused_ring_no_answer", 0),
                   "store_failures": by_event.get("store_write_failed", 0),
                   "warnings": levels.get("warning", 0), "errors": levels.get("error", 0),
                   "written": stopped.get("written"), "batches": stopped.get("batches"),
                   "batch_sizes": stopped.get("batch_sizes"),
                   "warning_events": dict(Counter(line.get("event") for line in lines
                                                  if line.get("level") in ("warning", "error")))},
        "series": {"rss_mib_every_5s": series(samples, "rss_mib", 5),
                   "asterisk_channels_every_5s": series(samples, "channels", 5),
                   "queue_waiting_every_5s": series(samples, "waiting", 5),
                   "sipp_concurrent_every_5s": [(i + 1, c) for i, c in enumerate(concurrent)][4::5]},
    }


def ascii_series(points: list[tuple[float, float]], width: int = 50, label: str = "", zero: bool = True) -> str:
    """Bars from 0 (zero=True) or from just under the lowest value (to show a small drift)."""
    if not points:
        return ""
    top = max(v for _, v in points)
    base = 0.0 if zero else min(v for _, v in points) - 0.02 * (top or 1)
    span = (top - base) or 1
    return "\n".join(f"  {t:6.0f}s {v:8.1f} {label} {'#' * round((v - base) / span * width)}" for t, v in points)


def summary(result: dict) -> str:
    c, k, lat, d, con = result["calls"], result["params"], result["latency"], result["daemon"], result["concurrency"]
    m = result["machine"]
    return "\n".join([
        f"machine: {m['nproc']} x {m['cpu']}, {m['ram_gib']} GiB, Python {m['python']}, {m['sipp']}, "
        f"{result.get('asterisk', '')}",
        f"load: {k['calls']} calls at {k['rate_cps']}/s for {k['duration_s']} s (-l {k['limit']}), "
        f"{k['agents']} agents, holds {k['min_hold_s']}-{k['max_hold_s']} s (mean {k['mean_hold_s']}), "
        f"store {k['store']}",
        f"concurrent calls (SIPp): max {con['sipp_max']}, steady {con['sipp_steady_min']}..{con['sipp_steady_mean']} "
        f"(min..mean); Asterisk channels max {con['asterisk_channels_max']}, waiting in queue max "
        f"{con['queue_waiting_max']}",
        f"calls: queue_log {c['queue_log']}, stored {c['stored']}, LOST {c['lost']}, disagree "
        f"{c['disagree_with_queue_log']}, incomplete {c['incomplete']}; entered {c['entered_per_s']}/s; "
        f"outcomes {c['outcomes']}",
        f"latency event->row: n={lat.get('count')} p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, "
        f"max {lat.get('max_ms')} ms; calls closed by no event (the sweeper) {lat.get('unmeasured')}; of which in the "
        f"writer (put -> commit) {lat.get('in_writer')}",
        f"daemon RSS MiB: start {d['rss_mib']['start']}, peak {d['rss_mib']['peak']}, end {d['rss_mib']['end']}; "
        f"CPU {d['cpu_percent_steady']} % (Asterisk {d['asterisk_cpu_percent_steady']} %); AMI connects "
        f"{d['ami_connects']}, gaps {d['ami_gaps']}; store failures {d['store_failures']}; warnings {d['warnings']} "
        f"{d['warning_events']}",
        f"store batches: {d['batches']} for {d['written']} records; by size {d.get('batch_sizes')}",
        "RSS over time (bars from just under the lowest value):", ascii_series(result["series"]["rss_mib_every_5s"][::3], label="MiB", zero=False),
        "concurrent calls (SIPp) over time:", ascii_series(result["series"]["sipp_concurrent_every_5s"][::2]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=8.0, help="calls placed per second")
    parser.add_argument("--duration", type=float, default=150, help="seconds of placing calls")
    parser.add_argument("--limit", type=int, default=300, help="SIPp's limit of calls up at once (-l)")
    parser.add_argument("--agents", type=int, default=180)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--record", action="store_true", help="keep the filtered AMI stream (workdir/load.ami)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/load.py needs root (the lab runs Asterisk in a chroot)")
    import pbx_bridge

    assert Path(pbx_bridge.__file__).resolve().is_relative_to(REPO), pbx_bridge.__file__
    RESULTS.mkdir(parents=True, exist_ok=True)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    results = {}
    for store in stores:
        result = run(argparse.Namespace(**{**vars(args), "store": store}))
        out = (args.out.with_name(f"{args.out.stem}-{store}{args.out.suffix}") if args.out and len(stores) > 1
               else args.out or RESULTS / f"load-{store}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
        print(summary(result))
        print(f"results: {out}", flush=True)
        results[store] = result
    if len(results) > 1:
        print(side_by_side(results))
    if any(r["calls"]["lost"] for r in results.values()):
        sys.exit("calls were lost")


def side_by_side(results: dict[str, dict]) -> str:
    """The event->row latency and the batching of each store, in one table."""
    lines = [f"{'store':<10} {'calls':>6} {'lost':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
             f"{'batches':>8} {'rec/batch':>9}  batch sizes"]
    for store, r in results.items():
        lat, d = r["latency"], r["daemon"]
        per = round(d["written"] / d["batches"], 1) if d.get("batches") else None
        lines.append(f"{store:<10} {r['calls']['stored']:>6} {r['calls']['lost']:>5} {lat.get('p50_ms')!s:>8} "
                     f"{lat.get('p99_ms')!s:>8} {lat.get('max_ms')!s:>8} {d.get('batches')!s:>8} {per!s:>9}  "
                     f"{d.get('batch_sizes')}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
