"""What the CLI reads and writes: listens, scores, and the call a uniqueid names (sync engine).

A score from the CLI is written straight to the store in one transaction (the daemon's writer is
another process); it names a call the store knows, in `calls` or in a listen, or it is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timezone

from sqlalchemy import select

from pbx_bridge.qa.records import SCORES, ScoreRecord
from pbx_bridge.qa.tables import qa_scores, qa_sessions
from pbx_bridge.store.days import db_bound
from pbx_bridge.calls.tables import calls

MAX_NOTE = 400


class UnknownCall(LookupError):
    """No call with that uniqueid in the store."""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def the_call(conn, uniqueid: str, pbx: str | None = None) -> dict | None:  # noqa: ANN001 - a Connection
    """The call as `calls` holds it (its last entry into a queue), or as a listen saw it; None if neither."""
    query = select(calls).where(calls.c.uniqueid == uniqueid)
    if pbx is not None:
        query = query.where(calls.c.pbx == pbx)
    rows = conn.execute(query.order_by(calls.c.seq.desc())).mappings().all()
    if rows:
        row = dict(rows[0])
        return {"pbx": row["pbx"], "uniqueid": uniqueid, "queue": row["queue"], "agent": row["agent"] or "",
                "caller_num": row["caller_num"], "joined_at": _utc(row["joined_at"]), "outcome": row["outcome"],
                "talk_s": row["talk_s"], "company": "", "in_calls": True}
    query = select(qa_sessions).where(qa_sessions.c.call_uniqueid == uniqueid)
    if pbx is not None:
        query = query.where(qa_sessions.c.pbx == pbx)
    session = conn.execute(query.order_by(qa_sessions.c.started_at)).mappings().first()
    if session is None:
        return None
    return {"pbx": session["pbx"], "uniqueid": uniqueid, "queue": session["queue"], "agent": session["agent"],
            "caller_num": "", "joined_at": None, "outcome": "", "talk_s": None, "company": session["company"],
            "in_calls": False}


def add_score(engine, uniqueid: str, score: int, note: str, by: str, pbx: str | None = None) -> ScoreRecord:  # noqa: ANN001
    """Score a call from the CLI. ValueError: not 1-5; UnknownCall: the store knows no such call."""
    if score not in SCORES:
        raise ValueError(f"a score is 1 to 5, not {score}")
    with engine.begin() as conn:
        call = the_call(conn, uniqueid, pbx)
        if call is None:
            raise UnknownCall(uniqueid)
        company = call["company"]
        if not company:  # the rota company a listen of this call named, if any
            company = conn.execute(select(qa_sessions.c.company).where(qa_sessions.c.call_uniqueid == uniqueid)
                                   .limit(1)).scalar() or ""
        record = ScoreRecord(score_id=uuid.uuid4().hex[:16], pbx=call["pbx"], call_uniqueid=uniqueid, score=score,
                             scored_by=by[:80], scored_at=datetime.now(timezone.utc), source="cli",
                             queue=call["queue"], agent=call["agent"], company=company, note=note[:MAX_NOTE])
        row = asdict(record)
        row["scored_at"] = db_bound(record.scored_at, conn.dialect.name)
        conn.execute(qa_scores.insert().values(**row))
    return record


def listing(engine, start: datetime, end: datetime, pbx: str | None = None) -> list[dict]:  # noqa: ANN001
    """Listens started and CLI scores given in [start, end), oldest first: one row per listen (with
    the score given at its end, if any) and one per score given without a listen."""
    with engine.connect() as conn:
        dialect = conn.dialect.name
        lo, hi = db_bound(start, dialect), db_bound(end, dialect)
        q_sessions = select(qa_sessions).where(qa_sessions.c.started_at >= lo, qa_sessions.c.started_at < hi)
        q_scores = select(qa_scores).where(qa_scores.c.scored_at >= lo, qa_scores.c.scored_at < hi)
        if pbx is not None:
            q_sessions = q_sessions.where(qa_sessions.c.pbx == pbx)
            q_scores = q_scores.where(qa_scores.c.pbx == pbx)
        sessions = [dict(r) for r in conn.execute(q_sessions).mappings()]
        scores = [dict(r) for r in conn.execute(q_scores).mappings()]
        ids = [s["session_id"] for s in sessions]
        scored = {r["session_id"]: dict(r) for r in conn.execute(
            select(qa_scores).where(qa_scores.c.session_id.in_(ids))).mappings()} if ids else {}
    rows = []
    for s in sessions:
        mark = scored.get(s["session_id"], {})
        rows.append({"at": _utc(s["started_at"]), "kind": "whisper" if s["whisper"] else "listen",
                     "uniqueid": s["call_uniqueid"], "agent": s["agent"], "company": s["company"],
                     "queue": s["queue"], "by": s["supervisor"], "listened_s": s["listened_s"],
                     "score": mark.get("score"), "note": mark.get("note", ""), "pbx": s["pbx"]})
    for r in scores:
        if r["session_id"] is None:
            rows.append({"at": _utc(r["scored_at"]), "kind": "score", "uniqueid": r["call_uniqueid"],
                         "agent": r["agent"], "company": r["company"], "queue": r["queue"], "by": r["scored_by"],
                         "listened_s": None, "score": r["score"], "note": r["note"], "pbx": r["pbx"]})
    return sorted(rows, key=lambda row: row["at"])


def of_call(engine, uniqueid: str, pbx: str | None = None) -> dict | None:  # noqa: ANN001
    """The call, its listens and its scores; None when the store knows no such call."""
    with engine.connect() as conn:
        call = the_call(conn, uniqueid, pbx)
        if call is None:
            return None
        sessions = [dict(r) for r in conn.execute(select(qa_sessions).where(
            qa_sessions.c.call_uniqueid == uniqueid).order_by(qa_sessions.c.started_at)).mappings()]
        scores = [dict(r) for r in conn.execute(select(qa_scores).where(
            qa_scores.c.call_uniqueid == uniqueid).order_by(qa_scores.c.scored_at)).mappings()]
    for row in sessions:
        row["started_at"], row["ended_at"] = _utc(row["started_at"]), _utc(row["ended_at"])
    for row in scores:
        row["scored_at"] = _utc(row["scored_at"])
    return {"call": call, "listens": sessions, "scores": scores}
