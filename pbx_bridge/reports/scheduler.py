"""The scheduled reports inside the daemon (rules §5): the intraday inbound reports (11:30 and
16:30 by default) and the morning handover (08:10: the call records of three days earlier).

- Never blocks ingestion: every query goes through the daemon's async engine (one GROUP BY for an
  intraday report; the handover streams its rows in chunks), so the event loop keeps reading AMI
  while the database works. No threads of our own.
- A run missed while the daemon was down runs when it is back: each slot (job + local date and
  time) that ran is a row in `report_runs`; at every tick the slots of the last `catch_up_days`
  that have no finished row run, oldest first. Both reports are reproducible after the fact (an
  intraday report counts the calls that joined before its set time; a handover is a fixed day).
- Several daemons on one PostgreSQL store: a slot is claimed by inserting its row (ON CONFLICT DO
  NOTHING), so one host runs it. A claim left unfinished for `STALE_CLAIM` (a host died mid-run)
  is taken over.
- A failed run is logged, its claim released, and retried with backoff (1 min doubling, at most
  1 h).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.backoff import raise_if_cancelled
from pbx_bridge.reports import handover, intraday
from pbx_bridge.reports.handover import _Atomic
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.reports.tables import report_runs

log = structlog.get_logger(__name__)

STALE_CLAIM = timedelta(minutes=15)
ON_TIME = timedelta(hours=1)  # a slot is made up this late even with catch_up_days 0 (a slow wake-up)
MAX_SLEEP_S = 60.0  # wake at least this often: clock changes and retries are noticed

OnReport = Callable[[str, dict], Awaitable[None] | None]


@dataclass(frozen=True)
class Slot:
    job: str  # "intraday" or "handover"
    at: datetime  # local, aware

    @property
    def key(self) -> str:
        return self.at.strftime("%Y-%m-%dT%H:%M")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class ReportScheduler:
    def __init__(self, engine: AsyncEngine, settings: ReportsConfig, tz: ZoneInfo, pbx: str,
                 on_report: OnReport | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.settings = settings
        self.tz = tz
        self.pbx = pbx
        self.on_report = on_report
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.jobs: list[tuple[str, time]] = [("intraday", ReportsConfig.at(t)) for t in settings.intraday_times]
        self.jobs.append(("handover", ReportsConfig.at(settings.handover_time)))
        self._done: set[tuple[str, str]] = set()
        self._loaded = False
        self._retry_at: dict[tuple[str, str], tuple[datetime, int]] = {}
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_run: dict[str, str] = {}
        self.next_at: datetime | None = None

    # --- when -----------------------------------------------------------------------------------

    def slots(self, since: datetime, until: datetime) -> list[Slot]:
        """Every slot with since < at <= until, oldest first."""
        out = []
        day = since.astimezone(self.tz).date()
        while day <= until.astimezone(self.tz).date():
            for job, at in self.jobs:
                moment = datetime.combine(day, at, self.tz)
                if since < moment <= until:
                    out.append(Slot(job, moment))
            day += timedelta(days=1)
        return sorted(out, key=lambda s: (s.at, s.job))

    def next_slot(self, now: datetime) -> datetime:
        return self.slots(now, now + timedelta(days=2))[0].at

    def due(self, now: datetime) -> list[Slot]:
        since = now - max(timedelta(days=self.settings.catch_up_days), ON_TIME)
        out = []
        for slot in self.slots(since, now):
            key = (slot.job, slot.key)
            retry = self._retry_at.get(key)
            if key not in self._done and (retry is None or retry[0] <= now):
                out.append(slot)
        return out

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled."""
        log.info("report_scheduler_started", jobs=[f"{j} {t:%H:%M}" for j, t in self.jobs],
                 catch_up_days=self.settings.catch_up_days)
        while True:
            raise_if_cancelled()
            failed = False
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - the database is away: the daemon goes on recording
                failed = True
                self.failures += 1
                self.last_error = repr(exc)[:300]
                log.warning("report_tick_failed", error=self.last_error, retry_in_s=MAX_SLEEP_S)
            now = self.clock()
            self.next_at = self.next_slot(now)
            delay = MAX_SLEEP_S if failed else min(MAX_SLEEP_S, max(0.0, (self.next_at - now).total_seconds()) + 0.01)
            await asyncio.sleep(delay)

    async def tick(self) -> list[Slot]:
        """Run every due slot (the missed ones first); return those that ran here."""
        now = self.clock()
        ran = []
        due = self.due(now)
        if due and not self._loaded:
            await self._load_done(now)
            self._loaded = True
            due = self.due(now)
        for slot in due:
            if await self._run_slot(slot):
                ran.append(slot)
        return ran

    def health(self) -> dict:
        return {"runs": self.runs, "failures": self.failures, "last_error": self.last_error,
                "last_run": dict(self.last_run), "retrying": len(self._retry_at),
                "next": None if self.next_at is None else self.next_at.isoformat()}

    # --- one slot -------------------------------------------------------------------------------

    async def _run_slot(self, slot: Slot) -> bool:
        key = (slot.job, slot.key)
        claim = await self._claim(slot)
        if claim != "claimed":
            if claim == "done":
                self._done.add(key)
            return False
        try:
            detail = await (self._intraday(slot) if slot.job == "intraday" else self._handover(slot))
        except Exception as exc:  # noqa: BLE001 - a failed report must not stop the scheduler or the daemon
            self.failures += 1
            self.last_error = repr(exc)[:300]
            attempts = self._retry_at.get(key, (None, 0))[1] + 1
            wait = min(60 * 2 ** (attempts - 1), 3600)
            self._retry_at[key] = (self.clock() + timedelta(seconds=wait), attempts)
            log.error("report_failed", job=slot.job, slot=slot.key, error=self.last_error, retry_in_s=wait)
            await self._release(slot)
            return False
        await self._finish(slot, detail)
        self._done.add(key)
        self._retry_at.pop(key, None)
        self.runs += 1
        self.last_run[slot.job] = slot.key
        late_s = (self.clock() - slot.at).total_seconds()
        log.info("report_done", job=slot.job, slot=slot.key, detail=detail, late_s=round(late_s, 1))
        return True

    async def _intraday(self, slot: Slot) -> str:
        day = slot.at.date()
        rep = await intraday.report_async(self.engine, day, self.tz, self.settings, until=slot.at.time())
        name = f"intraday-{day.isoformat()}-{slot.at:%H%M}"
        for suffix, text in ((".json", intraday.as_json(rep) + "\n"), (".txt", intraday.as_table(rep) + "\n")):
            with _Atomic(Path(self.settings.output_dir) / f"{name}{suffix}") as out:
                out.write(text)
        await self._notify("intraday", rep)
        t = rep["total"]
        return f"offered {t['offered']} answered {t['answered']} abandoned {t['abandoned']}"

    async def _handover(self, slot: Slot) -> str:
        day = handover.day_for(slot.at.date(), self.settings.handover_days_back)
        path, count = await handover.write_async(self.engine, Path(self.settings.handover_dir), day, self.tz)
        await self._notify("handover", {"day": day.isoformat(), "path": str(path), "records": count})
        return f"{path} {count} records"

    async def _notify(self, kind: str, payload: dict) -> None:
        if self.on_report is None:
            return
        try:
            result = self.on_report(kind, payload)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:  # noqa: BLE001 - the report is written; a failed notice is only logged
            log.warning("report_notice_failed", kind=kind, error=repr(exc)[:300])

    # --- the runs table -------------------------------------------------------------------------

    def _db(self, moment: datetime) -> datetime:
        return moment.astimezone(timezone.utc).replace(tzinfo=None) if self.dialect == "sqlite" else moment

    async def _load_done(self, now: datetime) -> None:
        since = now - timedelta(days=self.settings.catch_up_days + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(report_runs.c.job, report_runs.c.slot).where(
                report_runs.c.finished_at.is_not(None), report_runs.c.slot >= since.astimezone(self.tz).strftime(
                    "%Y-%m-%d")))).all()
        self._done.update((job, slot) for job, slot in rows)

    async def _claim(self, slot: Slot) -> str:
        now = self.clock()
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(report_runs).values(
                job=slot.job, slot=slot.key, pbx=self.pbx, started_at=self._db(now)).on_conflict_do_nothing())
            if result.rowcount == 1:
                return "claimed"
            row = (await conn.execute(select(report_runs.c.started_at, report_runs.c.finished_at).where(
                report_runs.c.job == slot.job, report_runs.c.slot == slot.key))).one()
            if row.finished_at is not None:
                return "done"
            if _utc(row.started_at) > now - STALE_CLAIM:
                return "busy"
            taken = await conn.execute(update(report_runs).where(
                report_runs.c.job == slot.job, report_runs.c.slot == slot.key, report_runs.c.finished_at.is_(None),
                report_runs.c.started_at == row.started_at).values(pbx=self.pbx, started_at=self._db(now)))
            if taken.rowcount == 1:
                log.warning("report_claim_taken_over", job=slot.job, slot=slot.key)
                return "claimed"
            return "busy"

    async def _finish(self, slot: Slot, detail: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(report_runs).where(
                report_runs.c.job == slot.job, report_runs.c.slot == slot.key).values(
                finished_at=self._db(self.clock()), detail=detail[:400]))

    async def _release(self, slot: Slot) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(delete(report_runs).where(and_(
                    report_runs.c.job == slot.job, report_runs.c.slot == slot.key, report_runs.c.pbx == self.pbx,
                    report_runs.c.finished_at.is_(None))))
        except Exception as exc:  # noqa: BLE001 - the claim goes stale and is taken over later
            log.warning("report_release_failed", job=slot.job, slot=slot.key, error=repr(exc)[:300])
