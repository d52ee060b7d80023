"""The monthly report as one self-contained HTML page: figure cards, three charts as inline SVG
(abandon rate by half-hour of the day, calls per hour, service level per day), the tables, and
every missed standard. No script, no web font, no network: the page renders offline.

Each bar of a chart is a `<g class="bar">` with a `<title>` (the tooltip), so a test can count
them: 48 half-hours, 24 hours, one per day of the period.
"""

from __future__ import annotations

from html import escape
from importlib import resources
from string import Template

from pbx_bridge.reports import callbacks as callback_report
from pbx_bridge.reports import threats as threat_report
from pbx_bridge.reports import escalation as escalation_report
from pbx_bridge.reports import qa as quality_report
from pbx_bridge.reports import incidents as incident_report
from pbx_bridge.reports.kpi import Figure
from pbx_bridge.reports.monthly import Monthly, fmt, fmt_target, half_hour_label

GREEN, RED, GREY, BLUE, AMBER = "#3f9a5b", "#d64545", "#9aa5b1", "#3a6ea5", "#e8a33d"
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 1100, 250, 56, 16, 28, 40


def _nice_max(value: float, share: bool) -> float:
    if share:
        for top in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
            if value <= top:
                return top
        return 1.0
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(chart_id: str, title: str, labels: list[str], series: list[list[float]], colours: list[str],
              tips: list[str], *, share: bool = False, target: float | None = None, target_higher: bool = True,
              bar_colours: list[str] | None = None, label_every: int = 1) -> str:
    """Bars (stacked when there are several series) with a y axis, and a dashed target line."""
    totals = [sum(s[i] for s in series) for i in range(len(labels))]
    top = _nice_max(max([*totals, target or 0, 0]), share)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar_w = max(2.0, slot * 0.72)

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    out = [(f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'),
           f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>']
    for k in range(5):
        v = top * k / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e7eb"/>')
        text = f"{v:.0%}" if share else f"{v:g}"
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{text}</text>')
    for i, label in enumerate(labels):
        x = LEFT + i * slot + (slot - bar_w) / 2
        out.append(f'<g class="bar" data-key="{escape(label)}"><title>{escape(tips[i])}</title>')
        base = 0.0
        for s, colour in zip(series, colours):
            value = s[i]
            if value > 0:
                fill = bar_colours[i] if bar_colours else colour
                out.append(f'<rect x="{x:.1f}" y="{y(base + value):.1f}" width="{bar_w:.1f}" '
                           f'height="{y(base) - y(base + value):.1f}" fill="{fill}"/>')
            base += value
        out.append("</g>")
        if i % label_every == 0:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                       f'{escape(label)}</text>')
    if target is not None:
        ty = y(target)
        text = f"target {'≥' if target_higher else '≤'} {target:.0%}" if share else f"target {target:g}"
        out.append(f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
                   f'stroke="{RED}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{WIDTH - RIGHT}" y="16" text-anchor="end" fill="{RED}">- - - {text}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#52606d"/>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(items: list[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(
        f'<span style="background:{c}"></span>{escape(t)}' for t, c in items) + "</div>"


def _td(f: Figure) -> str:
    cls = "miss" if f.missed else ("na" if f.value is None else "")
    return f'<td class="{cls}" title="target {escape(fmt_target(f))}">{escape(fmt(f))}</td>'


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _agent_time_table(m: Monthly) -> str:
    reasons = sorted({r for a in m.agent_time for r in a.paused_s})
    rows = [f"<tr><td class='l'>{escape(a.employee_no)}</td><td class='l'>{escape(a.agent)}</td><td>{a.sessions}</td>"
            f"<td>{a.logged_in_s / 3600:.2f}</td>" + "".join(f"<td>{a.paused_s.get(r, 0) / 3600:.2f}</td>" for r in reasons)
            + f"<td>{a.pause_total_s / 3600:.2f}</td></tr>" for a in m.agent_time]
    if not rows:
        return "<p>(no agent sessions)</p>"
    return _table(["工号", "agent", "sessions", "logged in (h)", *(f"{r} (h)" for r in reasons), "paused (h)"], rows)


def render(m: Monthly, title: str | None = None) -> str:
    title = title or f"Monthly operations report {m.first:%Y-%m}"
    limit = m.targets["abandon_rate"]
    halves = m.by_half_hour
    rates = [c.abandon_rate or 0.0 for c in halves]
    abandon = bar_chart(
        "abandon-by-half-hour", "Abandon rate by half-hour of the day (all companies)",
        [half_hour_label(i) for i in range(48)], [rates], [BLUE],
        [f"{half_hour_label(i)}: {c.abandoned}/{c.offered} abandoned"
         + ("" if c.abandon_rate is None else f" ({c.abandon_rate:.1%})") for i, c in enumerate(halves)],
        share=True, target=limit, target_higher=False,
        bar_colours=[RED if r > limit else BLUE for r in rates], label_every=2)
    hours = m.by_hour
    hourly = bar_chart(
        "calls-per-hour", "Calls offered per hour of the day, whole period",
        [f"{h:02d}" for h in range(24)],
        [[c.answered for c in hours], [c.abandoned for c in hours],
         [c.offered - c.answered - c.abandoned for c in hours]], [GREEN, RED, GREY],
        [f"{h:02d}:00–{h:02d}:59: {c.offered} offered, {c.answered} answered, {c.abandoned} abandoned"
         for h, c in enumerate(hours)])
    hourly += _legend([("answered", GREEN), ("abandoned", RED), ("timeout / other", GREY)])
    days = sorted(m.by_day.items())
    sl_target = m.targets["timely_rate"]
    levels = [c.timely_rate or 0.0 for _, c in days]
    daily = bar_chart(
        "service-level-per-day", f"Service level per day: answered within {m.threshold_s:g} s / offered",
        [f"{d:%d}" for d, _ in days], [levels], [GREEN],
        [f"{d}: {c.timely}/{c.offered} within {m.threshold_s:g} s"
         + ("" if c.timely_rate is None else f" ({c.timely_rate:.1%})") for d, c in days],
        share=True, target=sl_target,
        bar_colours=[GREY if c.offered == 0 else (RED if lv < sl_target else GREEN) for lv, (_, c) in zip(levels, days)])

    cards = []
    for f in m.total.figures:
        cls = "miss" if f.missed else ("ok" if f.met else "")
        cards.append(f'<div class="card {cls}"><div class="v">{escape(fmt(f))}</div>'
                     f'<div class="t">{escape(f.label)}<br>target {escape(fmt_target(f))}</div></div>')
    c = m.total.counts
    cards.append(f'<div class="card"><div class="v">{c.offered}</div><div class="t">calls offered<br>'
                 f'{c.answered} answered, {c.abandoned} abandoned</div></div>')

    company_rows = []
    for line in [*m.companies, m.total]:
        f = {x.key: x for x in line.figures}
        k = line.counts
        company_rows.append(
            f"<tr><td>{escape(line.company)}</td><td>{k.offered}</td><td>{k.answered}</td><td>{k.abandoned}</td>"
            f"<td>{k.timeouts}</td>" + "".join(_td(f[x]) for x in ("answer_rate", "timely_rate", "aht_s",
                                                                   "ring_twice", "abandon_rate")) + "</tr>")
    agent_rows = []
    for a in m.agents:
        f = {x.key: x for x in a.figures}
        agent_rows.append(
            f"<tr><td>{escape(a.agent)}</td><td class='l'>{escape(a.company)}</td><td>{a.offers.offers}</td>"
            f"<td>{a.offers.answered}</td>{_td(f['answer_rate'])}{_td(f['ring_twice'])}<td>{a.offers.missed}</td>"
            f"<td>{a.calls_answered}</td>{_td(f['aht_s'])}<td>{a.ended_first}</td>{_td(f['outbound_per_day'])}</tr>")
    repeat_rows = [f"<tr><td>{r['day']}</td><td class='l'>{escape(r['company'])}</td>"
                   f"<td class='l'>{escape(r['caller_num'])}</td><td>{r['unanswered']}</td>"
                   f"<td>{r['answered_later']}</td></tr>" for r in m.repeat_callers[:50]]
    more = len(m.repeat_callers) - len(repeat_rows)
    misses = m.misses()
    values = {
        "title": escape(title),
        "subtitle": escape(f"{m.first} – {m.last} ({m.timezone}) · timely = answered within {m.threshold_s:g} s · "
                           f"two rings = {m.two_rings_s:g} s · red = missed its standard"),
        "cards": "".join(cards),
        "chart_abandon": abandon, "chart_hourly": hourly, "chart_daily": daily,
        "table_companies": _table(["company", "offered", "answered", "abandoned", "timeouts", "answer rate 接通率",
                                   "timely 及时应答率", "AHT 平均处理时长", "within two rings", "abandon rate"],
                                  company_rows),
        "table_agents": _table(["agent", "company", "offers", "answered", "answer rate", "within two rings",
                                "missed", "calls", "AHT", "ended first", "outbound/day 日呼出量"], agent_rows)
        if agent_rows else "<p>(no agents)</p>",
        "miss_count": str(len(misses)),
        "misses": "".join(f"<li>{escape(x)}</li>" for x in misses) or "<li style='color:#127a3a'>none</li>",
        "table_repeat": (f"<p>{len(m.repeat_callers)} numbers with ≥ {m.repeat_calls} unanswered calls in one day"
                         + (f" (first 50 shown, {more} more in the CSV/JSON)" if more > 0 else "") + "</p>"
                         + (_table(["day", "company", "number", "unanswered", "answered"], repeat_rows)
                            if repeat_rows else "")),
        "notes": "".join(f"<li>{escape(n)}</li>" for n in m.notes),
        "table_agent_time": _agent_time_table(m),
        "table_callbacks": callback_report.html_table(m.callbacks),
        "table_threats": threat_report.html_table(m.threats),
        "table_escalation": escalation_report.html_table(m.escalation),
        "table_quality": quality_report.html_table(m.quality) if m.quality is not None else "<p>(no calls monitored)</p>",
        "table_incidents": incident_report.html_table(m.incidents),
    }
    template = resources.files("pbx_bridge.reports").joinpath("templates/monthly.html").read_text("utf-8")
    return Template(template).substitute(values)
