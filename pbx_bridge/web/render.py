"""The pages' HTML: one shell (navigation, logout button), plain tables, and the strict headers.

No script on any page. The pages' own look is one stylesheet (`/reports/style.css`, CSP
`style-src 'self'`). The monthly report is reports/html.py's self-contained page as the CLI writes
it: its `<style>` block and its few `style="…"` attributes are allowed by their sha256 hashes
('unsafe-hashes' for the attributes), computed from the page as served, never 'unsafe-inline'.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape, unescape

BASE = "/reports"
CSP = ("default-src 'none'; style-src 'self'{extra}; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_STYLE_ATTR = re.compile(r"""\sstyle=(?:"([^"]*)"|'([^']*)')""", re.I)

STYLESHEET = """
body.web { font: 14px/1.45 system-ui, "Noto Sans CJK SC", sans-serif; margin: 0; color: #1f2933; }
nav.web { display: flex; flex-wrap: wrap; gap: .3em 1em; align-items: center; padding: .5em 1em;
  background: #243b53; color: #fff; }
nav.web a { color: #fff; text-decoration: none; }
nav.web a.here { font-weight: bold; text-decoration: underline; }
nav.web form { display: inline; margin: 0; }
nav.web .who { margin-left: auto; opacity: .85; }
main.web { padding: 1em; }
form.pick { margin: .6em 1em; }
table.web { border-collapse: collapse; margin: .5em 0 1.5em; }
table.web th, table.web td { border: 1px solid #d9e2ec; padding: .25em .6em; text-align: left; }
table.web th { background: #f0f4f8; }
table.web td.n { text-align: right; font-variant-numeric: tabular-nums; }
p.error { color: #b42318; }
.login { max-width: 22em; margin: 4em auto; }
.login label { display: block; margin: .6em 0 .2em; }
.login input { width: 100%; box-sizing: border-box; padding: .35em; }
.login button { margin-top: 1em; padding: .4em 1.2em; }
"""


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def csp_for(page: str) -> str:
    """The policy for `page`: its inline `<style>` blocks and style attributes by hash, nothing else inline."""
    blocks = sorted({_sha(m) for m in _STYLE_BLOCK.findall(page)})
    attrs = sorted({_sha(unescape(a or b)) for a, b in _STYLE_ATTR.findall(page)})
    extra = "".join(f" {h}" for h in blocks)
    if attrs:
        extra += " 'unsafe-hashes'" + "".join(f" {h}" for h in attrs)
    return CSP.format(extra=extra)


def headers(page: str = "", *, cache: bool = False) -> dict[str, str]:
    """Every page's headers: its CSP, no framing, no copy kept by a browser or proxy, and no referrer
    to another site. (`same-origin`, not `no-referrer`: under `no-referrer` Chromium sends the login
    form's `Origin` as `null`, and the same-origin check of the POST could not pass.)"""
    return {"Content-Security-Policy": csp_for(page), "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "Cache-Control": "private, max-age=300" if cache else "no-store", "Cross-Origin-Opener-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff"}


def nav(pages: list[tuple[str, str]], here: str, user: str, role: str) -> str:
    links = "".join(f'<a href="{escape(p)}"{" class=here" if p == here else ""}>{escape(t)}</a>' for p, t in pages)
    return (f'<nav class="web">{links}<span class="who">{escape(user)} ({escape(role)})</span>'
            f'<form method="post" action="{BASE}/logout"><button type="submit" id="logout">Log out</button></form></nav>')


def shell(title: str, body: str, top: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{BASE}/style.css"></head><body class="web">{top}<main class="web">'
            f'<h1>{escape(title)}</h1>{body}</main></body></html>')


def cell(value: object) -> str:
    if value is None or value == "":
        return "<td>-</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        return f'<td class="n">{value:g}</td>' if isinstance(value, float) else f'<td class="n">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def table(rows: list[dict], fields: tuple[str, ...] | list[str], table_id: str, empty: str) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}-empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(f)}</th>" for f in fields)
    body = "".join("<tr>" + "".join(cell(r.get(f)) for f in fields) + "</tr>" for r in rows)
    return f'<table class="web" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def picker(action: str, name: str, kind: str, value: str, label: str) -> str:
    """A GET form choosing the period (the month picker): it changes what is shown, nothing else."""
    return (f'<form class="pick" method="get" action="{escape(action)}"><label>{escape(label)} '
            f'<input type="{kind}" name="{name}" value="{escape(value)}" required></label> '
            f'<button type="submit">Show</button></form>')


def into_report(page: str, top: str) -> str:
    """reports/html.py's page with the navigation and the month picker at the top of its body."""
    page = page.replace("</head>", f'<link rel="stylesheet" href="{BASE}/style.css"></head>', 1)
    return re.sub(r"<body[^>]*>", lambda m: m.group(0) + top, page, count=1)
