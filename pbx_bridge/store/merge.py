"""When a record meets what the store already holds for the same call, the better account wins.

Two sources describe a queued call. AMI (the tracker) has millisecond times, the caller's name and
the linkedid. Asterisk's queue_log, read back after a gap or a restart (pbx_bridge/reconcile), has
whole seconds and no name, but it has every call, including those that ended while we were not
listening. Calls are matched on what identifies an entry into a queue whatever the source: the
channel (`uniqueid`), the queue, and the time it joined, within MATCH_WINDOW_S (queue_log truncates
to the second). The `seq` in the key is only a number: two entries of one channel get two, and an
entry keeps the number it was first stored under, whichever source writes it later.

Ranks: a complete AMI record (2) beats a queue_log one (1), which beats an AMI record whose end was
not seen (0, `incomplete`). A record replaces a row of equal or lower rank and never a better one,
so replays stay idempotent, a complete AMI row is never touched by reconciliation, and an
incomplete one is completed with queue_log's truth while keeping what only AMI knew.

Pure functions over row dicts; the writer runs them inside its transaction.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Iterable

MATCH_WINDOW_S = 2.0
# What only AMI knows about a call, kept when queue_log completes an incomplete AMI row.
_AMI_ONLY = ("linkedid", "caller_name", "joined_at", "position", "hangup_cause")


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL aware datetimes.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _near(a: datetime, b: datetime) -> bool:
    return abs((_utc(a) - _utc(b)).total_seconds()) <= MATCH_WINDOW_S


def rank(row: dict) -> int:
    if row.get("incomplete"):
        return 0
    return 2 if row.get("source", "ami") == "ami" else 1


def same_entry(a: dict, b: dict) -> bool:
    return a["queue"] == b["queue"] and _near(a["joined_at"], b["joined_at"])


def _group(rows: Iterable[dict]) -> dict[tuple[str, str], list[dict]]:
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["pbx"], row["uniqueid"]), []).append(dict(row))
    return grouped


def _completed_from_queue_log(row: dict, ami: dict) -> dict:
    merged = dict(row)
    for name in _AMI_ONLY:
        if ami.get(name) not in (None, ""):
            merged[name] = ami[name]
    if not merged.get("caller_num"):
        merged["caller_num"] = ami.get("caller_num") or ""
    if ami.get("agent") == merged.get("agent") and ami.get("interface"):
        merged["interface"] = ami["interface"]
    return merged


def merge_calls(batch: list[dict], stored: Iterable[dict]) -> tuple[list[dict], Counter]:
    """The rows to upsert for `batch` (in order), given the stored rows of the same channels."""
    entries = _group(stored)
    out: dict[tuple, dict] = {}
    stats: Counter = Counter()
    for row in batch:
        source = row.get("source", "ami")
        known = entries.setdefault((row["pbx"], row["uniqueid"]), [])
        index = next((i for i, e in enumerate(known) if same_entry(e, row)), None)
        if index is not None:
            match = known[index]
            if rank(row) < rank(match):
                stats[f"{source}_kept_better"] += 1
                continue
            if source == "queue_log" and match.get("source", "ami") == "ami":
                row = _completed_from_queue_log(row, match)
                stats["queue_log_completed"] += 1
            else:
                stats[f"{source}_updated"] += 1
            row = dict(row, seq=match["seq"])
            known[index] = row
        else:
            taken = {e["seq"] for e in known}
            if row["seq"] in taken:  # another entry of this channel holds the number
                row = dict(row, seq=max(taken) + 1)
                stats["seq_moved"] += 1
            known.append(row)
            stats[f"{source}_inserted"] += 1
        out[(row["pbx"], row["uniqueid"], row["seq"])] = row
    return list(out.values()), stats


def merge_offers(batch: list[dict], stored: Iterable[dict]) -> tuple[list[dict], Counter]:
    """AMI offers are written as they come. A queue_log offer is written only if AMI did not see
    that ring: no stored offer with its id, nor one to the same agent within the match window.
    The exception is the answer itself (its id is the agent channel's uniqueid in both sources):
    it replaces the guess made for an offer that was still ringing when AMI lost sight of it."""
    entries = _group(stored)
    out: dict[tuple, dict] = {}
    stats: Counter = Counter()
    for row in batch:
        known = entries.setdefault((row["pbx"], row["uniqueid"]), [])
        key = (row["pbx"], row["uniqueid"], row["offer_id"])
        if row.get("source", "ami") == "queue_log":
            same_id = next((e for e in known if e["offer_id"] == row["offer_id"]), None)
            if same_id is not None:
                if same_id.get("source", "ami") == "ami" and not (
                        row["result"] == "answered" and same_id["result"] != "answered"):
                    stats["queue_log_offer_kept_better"] += 1
                    continue
            elif any(e["agent"] == row["agent"] and _near(e["offered_at"], row["offered_at"]) for e in known):
                stats["queue_log_offer_kept_better"] += 1
                continue
            stats["queue_log_offer_written"] += 1
        known[:] = [e for e in known if e["offer_id"] != row["offer_id"]] + [row]
        out[key] = row
    return list(out.values()), stats
