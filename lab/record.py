"""Record raw AMI transcripts (+ queue_log) of lab scenarios."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .ami import Recorder
from . import traffic


def record(lab, scenario, out: str | Path, filtered: bool = True, settle: float = 1.0,
           **kwargs) -> dict:
    """Run `scenario` (a name from traffic.SCENARIOS or a callable(ami) -> result) while
    recording everything the server sends to a second AMI connection after its Login
    response, byte for byte, into `out` (e.g. answered.ami). The queue_log lines of the
    same calls go to out with suffix .queue_log. filtered=True records as the SHIPPED user
    [pbx-bridge] (with its event filter); False as the lab user without any filter.
    Returns the scenario result (without the event list)."""
    fn = traffic.SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    out = Path(out)
    user, secret = ((lab.ami_user, lab.ami_secret) if filtered else (lab.raw_user, lab.raw_secret))
    # let previous calls' events drain, then start clean
    time.sleep(0.3)
    lab.clear_queue_log()
    rec = Recorder(lab.ami_host, lab.ami_port, user, secret)
    try:
        with lab.ami() as ami:
            result = fn(ami, **kwargs)
        time.sleep(settle)
    finally:
        data = rec.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    qlog = [l for l in lab.queue_log_lines() if "|NONE|NONE|NONE|" not in l]
    out.with_suffix(".queue_log").write_text("\n".join(qlog) + ("\n" if qlog else ""),
                                             encoding="utf-8")
    result = {k: v for k, v in result.items() if k != "events"}
    result["transcript"] = out.name
    result["filtered"] = filtered
    return result


def record_all(lab, out_dir: str | Path, names=None) -> dict:
    out_dir = Path(out_dir)
    results = {}
    for name in names or list(traffic.SCENARIOS):
        t = time.time()
        results[name] = record(lab, name, out_dir / f"{name}.ami")
        print(f"recorded {name}.ami in {time.time() - t:.1f}s: "
              f"{[(c['tag'], c['outcome'], c.get('agent')) for c in results[name]['calls']]}",
              flush=True)
    return results


def dump_results(results, path):
    Path(path).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
