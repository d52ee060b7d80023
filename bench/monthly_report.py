"""The monthly operations report over one million synthetic calls, in SQLite and in PostgreSQL.

Generates a month of calls (and their offers) with a realistic shape (office hours, 10 queues in
4 companies, 40 agents, a few percent abandoned, repeat callers), loads them in big batches (COPY
on PostgreSQL), then times the monthly report, the intraday report of one day and the ring-twice
compliance of the month, and the handover of one day. Not a test: it prints figures for
docs/benchmarks.md.

    .venv/bin/python bench/monthly_report.py [--calls 1000000] [--no-postgres] [--pg-port 55433]
                                             [--pg-large-calls 10000000]

Each report is timed both ways in the same run: from the raw rows (source="raw") and from the
rollups (pbx_bridge/rollups, built here from the loaded rows as a daemon does on its first write),
with the ratio; the two monthly reports must be equal.

PostgreSQL is a throwaway server (tests/support/postgres.py; root and Debian's postgresql needed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from pbx_bridge.reports import handover, intraday, monthly, ring_twice
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.ring import RingConfig, two_rings_s, within_two_rings_limit_s
from pbx_bridge.rollups.keeper import rebuild_store
from pbx_bridge.rollups.sums import Basis
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade

TZ = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
QUEUES = [f"q{i}" for i in range(10)]
SETTINGS = ReportsConfig(companies={q: f"company-{i % 4}" for i, q in enumerate(QUEUES)})
AGENTS = [f"Agent {200 + i}" for i in range(40)]
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 1, 6, 10, 11, 10, 6, 7, 10, 11, 9, 6, 2, 1, 1, 0, 0, 0]
CALL_COLS = ("pbx", "uniqueid", "seq", "linkedid", "queue", "caller_num", "caller_name", "joined_at", "position",
             "outcome", "wait_s", "agent", "interface", "ring_s", "talk_s", "ended_by", "hangup_cause", "incomplete")
OFFER_COLS = ("pbx", "uniqueid", "offer_id", "queue", "agent", "interface", "offered_at", "ring_s", "rings", "result")
BATCH = 50_000
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")
TWO_RINGS = two_rings_s(CN)  # 6.0


def generate(n: int, seed: int = 5):
    """Yields (calls, offers) batches of row tuples, joined_at as naive UTC."""
    rnd = random.Random(seed)
    days = (LAST - FIRST).days + 1
    day_start = [datetime.combine(FIRST + timedelta(days=d), datetime.min.time(), TZ).astimezone(timezone.utc)
                 .replace(tzinfo=None) for d in range(days)]
    hours = rnd.choices(range(24), HOUR_WEIGHTS, k=4096)
    calls, offers = [], []
    for i in range(n):
        joined = day_start[i * days // n] + timedelta(hours=hours[i % 4096], seconds=rnd.random() * 3600)
        queue = QUEUES[rnd.randrange(10)]
        uid = f"{1790000000 + i}.{i}"
        caller = f"139{rnd.randrange(300_000):08d}"
        p = rnd.random()
        if rnd.random() < 0.004:  # a few numbers that keep calling and keep giving up
            caller, p = f"138{i * days // n:02d}{rnd.randrange(40):06d}", rnd.uniform(0.85, 1.0)
        agent = AGENTS[rnd.randrange(40)]
        iface = f"Local/{agent[-3:]}@agents/n"
        off_id = 0
        if p < 0.90:
            wait = rnd.expovariate(1 / 9)
            ring = rnd.uniform(0.5, 6.5)
            talk = rnd.lognormvariate(4.9, 0.6)
            if rnd.random() < 0.08:  # the first agent let it ring out
                offers.append(("bench", uid, f"{uid}-{off_id}", queue, AGENTS[rnd.randrange(40)], iface, joined,
                               6.0, 2, "no-answer"))
                off_id += 1
            offers.append(("bench", uid, f"{uid}-{off_id}", queue, agent, iface, joined + timedelta(seconds=wait - ring),
                           ring, 1 + int(ring // 5), "answered"))
            calls.append(("bench", uid, 0, uid, queue, caller, "", joined, 1, "answered", wait, agent, iface, ring,
                          talk, "caller" if rnd.random() < 0.97 else "agent", "16", False))
        else:
            outcome = "abandoned" if p < 0.95 else ("timeout" if p < 0.98 else "exitempty")
            wait = rnd.expovariate(1 / 40)
            if rnd.random() < 0.5:
                offers.append(("bench", uid, f"{uid}-0", queue, agent, iface, joined, min(wait, 3.0), 1,
                               "caller-left"))
            calls.append(("bench", uid, 0, uid, queue, caller, "", joined, 1, outcome, wait, None, None, None, None,
                          "caller" if outcome == "abandoned" else "system", "16", False))
        if len(calls) >= BATCH:
            yield calls, offers
            calls, offers = [], []
    if calls:
        yield calls, offers


def load_sqlite(path: str, n: int) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    started, offers = time.perf_counter(), 0
    for calls, offs in generate(n):
        conn.executemany(f"INSERT INTO calls ({','.join(CALL_COLS)}) VALUES ({','.join('?' * len(CALL_COLS))})",
                         [c[:7] + (c[7].isoformat(sep=" ", timespec="microseconds"),) + c[8:] for c in calls])
        conn.executemany(f"INSERT INTO offers ({','.join(OFFER_COLS)}) VALUES ({','.join('?' * len(OFFER_COLS))})",
                         [o[:6] + (o[6].isoformat(sep=" ", timespec="microseconds"),) + o[7:] for o in offs])
        conn.commit()
        offers += len(offs)
    conn.close()
    return time.perf_counter() - started, offers


def load_postgres(url: str, n: int) -> tuple[float, int]:
    import psycopg

    started, offers = time.perf_counter(), 0
    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1)) as conn:
        for calls, offs in generate(n):
            with conn.cursor() as cur:
                with cur.copy(f"COPY calls ({','.join(CALL_COLS)}) FROM STDIN") as copy:
                    for c in calls:
                        copy.write_row(c[:7] + (c[7].replace(tzinfo=timezone.utc),) + c[8:])
                with cur.copy(f"COPY offers ({','.join(OFFER_COLS)}) FROM STDIN") as copy:
                    for o in offs:
                        copy.write_row(o[:6] + (o[6].replace(tzinfo=timezone.utc),) + o[7:])
            conn.commit()
            offers += len(offs)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a settled table: index-only scans work
    return time.perf_counter() - started, offers


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def build_rollups(url: str) -> tuple[float, int]:
    """What a daemon does before its first write on a store without rollups (rollups/keeper.py)."""
    started = time.perf_counter()
    rows = asyncio.run(rebuild_store(url, Basis(TZ, float(SETTINGS.timely_threshold_s),
                                                within_two_rings_limit_s(TWO_RINGS))))
    return time.perf_counter() - started, sum(rows.values())


def measure(name: str, url: str, load, n: int, out_dir: Path | None, repeat: int = 3, raw_repeat: int = 3) -> None:
    upgrade(url)
    load_s, n_offers = load(url, n)
    print(f"{name}: loaded {n:,} calls + {n_offers:,} offers in {load_s:.1f} s")
    build_s, rollup_rows = build_rollups(url)
    print(f"{name}: rollups built from the raw rows in {build_s:.1f} s ({rollup_rows:,} rollup rows)")
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
        assert count == n, count
        reports = {}
        print(f"{name}: best of {max(raw_repeat, 1)} (raw) and {repeat} (rollups)")
        print(f"{name}: {'':34}{'raw rows':>10}{'rollups':>10}{'ratio':>8}")
        day = date(2026, 11, 17)
        until = datetime.min.time().replace(hour=16, minute=30)
        for label, fn in (
                ("monthly report",
                 lambda src: monthly.monthly(engine, FIRST, LAST, TZ, SETTINGS, TWO_RINGS, source=src)),
                ("intraday report (a day to 16:30)",
                 lambda src: intraday.report(engine, day, TZ, SETTINGS, until, source=src)),
                ("ring-twice compliance (month)",
                 lambda src: ring_twice.compliance(engine, FIRST, LAST, TZ, CN, "month", source=src))):
            if not raw_repeat and label.startswith("ring-twice"):  # the raw path reads every offer in Python
                roll_s, rolled = timed(lambda: fn("rollups"), repeat)
                print(f"{name}: {label:34}{'(skipped)':>10}{roll_s:>9.3f}s")
                continue
            raw_s, raw = timed(lambda: fn("raw"), max(raw_repeat, 1))
            roll_s, rolled = timed(lambda: fn("rollups"), repeat)
            reports[label] = (raw, rolled)
            print(f"{name}: {label:34}{raw_s:>9.3f}s{roll_s:>9.3f}s{raw_s / roll_s:>7.1f}x")
        raw, rep = next(iter(reports.values()))
        assert raw.as_dict() == rep.as_dict(), "the two paths differ"
        t = rep.total.counts
        print(f"{name}: same figures both ways — offered {t.offered:,}, answered {t.answered:,}, "
              f"answer rate {t.answer_rate:.2%}, timely {t.timely_rate:.2%}, AHT {t.aht_s:.1f} s, "
              f"{len(rep.agents)} agent lines, {len(rep.repeat_callers):,} repeat callers, "
              f"{len(rep.misses())} misses")
        html_s, page = timed(lambda: __import__("pbx_bridge.reports.html", fromlist=["render"]).render(rep))
        print(f"{name}: HTML page {html_s * 1000:.0f} ms, {len(page) / 1024:.0f} KiB")
        if out_dir is not None:
            seconds, (path, rows) = timed(lambda: handover.write(engine, out_dir / name, day, TZ), 1)
            print(f"{name}: handover CSV of one day {seconds * 1000:.0f} ms, {rows:,} records, "
                  f"{path.stat().st_size / 1e6:.1f} MB")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-port", type=int, default=55433)
    parser.add_argument("--pg-large-calls", type=int, default=0,
                        help="then a PostgreSQL run with this many calls (10000000: about 20 min to load)")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM; {platform.platform()}; "
          f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="pbx-bench-") as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db", lambda url, n: load_sqlite(url[len("sqlite:///"):], n),
                args.calls, Path(tmp))
        print(f"sqlite: database file {Path(tmp, 'bench.db').stat().st_size / 1e6:.0f} MB")
        if not args.no_postgres:
            from tests.support.postgres import PostgresServer, available

            if not available():
                print("postgresql: skipped (needs root and Debian's postgresql)")
            else:
                server = PostgresServer(port=args.pg_port).start()
                try:
                    engine = sync_engine(server.url)
                    with engine.connect() as conn:
                        print(f"postgresql: {conn.execute(text('SHOW server_version')).scalar_one()}")
                    engine.dispose()
                    measure("postgresql", server.url, load_postgres, args.calls, Path(tmp))
                    if args.pg_large_calls:
                        engine = sync_engine(server.url)
                        with engine.begin() as conn:
                            conn.execute(text("TRUNCATE calls, offers, call_rollups, agent_rollups, offer_rollups, "
                                              "caller_rollups, rollup_state"))
                        engine.dispose()
                        measure(f"postgresql-{args.pg_large_calls // 1_000_000}M", server.url, load_postgres,
                                args.pg_large_calls, None, raw_repeat=0)
                finally:
                    server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB (generation and load included)")


if __name__ == "__main__":
    main()
