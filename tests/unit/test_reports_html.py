"""The HTML monthly report: self-contained (no script, no network), the three charts with the
right number of bars, and a real render in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from pbx_bridge.reports import html, monthly
from pbx_bridge.reports.settings import ReportsConfig
from tests.unit.test_reports_kpi import call, local, make_offer, report, seed

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SETTINGS = ReportsConfig(companies={"support": "Jing'an 静安", "sales": "Jing'an 静安", "billing": "Baoshan 宝山"})


def busy_month() -> list:
    """Office hours, a lunch dip, an afternoon with too many abandons, a bad day or two."""
    out = []
    n = 0
    for day in range(1, 31):
        for hour, volume in ((8, 6), (9, 12), (10, 14), (11, 12), (12, 5), (13, 8), (14, 13), (15, 14), (16, 10),
                             (17, 4), (20, 1)):
            for k in range(volume + (day % 4)):
                n += 1
                minute = (k * 53 + day * 7) % 60
                bad = (hour == 15 and minute >= 30) or day in (9, 23)
                outcome = "abandoned" if (n % (6 if bad else 37) == 0) else ("timeout" if n % 53 == 0 else "answered")
                wait = (n * 7.3) % (45 if bad else 22)
                rec = call(local(day, hour, minute, n % 60), outcome, queue=("support", "sales", "billing")[n % 3],
                           wait_s=wait, talk_s=(n * 11.7) % 420 if outcome == "answered" else None,
                           agent=f"20{n % 5}" if outcome == "answered" else None, caller_num=f"1390000{n % 997:04d}")
                out.append(rec)
                if outcome == "answered":
                    out.append(make_offer(rec.uniqueid, f"o{n}", agent=rec.agent, queue=rec.queue,
                                          offered_at=rec.joined_at, ring_s=(n * 1.3) % 7, rings=1))
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, monthly.Monthly]:
    tmp = tmp_path_factory.mktemp("html")
    url = f"sqlite:///{tmp}/store.db"
    seed(url, busy_month())
    rep = report(url, SETTINGS)
    path = tmp / "monthly.html"
    path.write_text(html.render(rep), encoding="utf-8")
    return path, rep


class _Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svg: str | None = None
        self.bars: dict[str, int] = {}
        self.tags: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "svg":
            self.svg = a.get("id")
            self.bars[self.svg] = 0
        elif tag == "g" and a.get("class") == "bar" and self.svg:
            self.bars[self.svg] += 1
        for key in ("src", "href"):
            if a.get(key):
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None


def bar_counts(text: str) -> _Svg:
    parser = _Svg()
    parser.feed(text)
    return parser


def test_the_page_is_self_contained_with_three_charts(page):
    path, rep = page
    text = path.read_text()
    parsed = bar_counts(text)
    assert parsed.bars == {"abandon-by-half-hour": 48, "calls-per-hour": 24, "service-level-per-day": 30}
    assert "script" not in parsed.tags and parsed.links == [], "nothing to fetch: renders offline"
    assert "静安" in text and "接通率" in text
    assert "not measured" in text, "no outbound calls in this month's data"
    for line in rep.misses():
        assert html.escape(line) in text, line
    assert 'class="target"' in text


def test_bars_over_the_abandon_target_are_red(page):
    path, rep = page
    text = path.read_text()
    chart = text[text.index('id="abandon-by-half-hour"'):text.index("</svg>", text.index('id="abandon-by-half-hour"'))]
    red = len(re.findall(r'<g class="bar"[^>]*><title>[^<]*</title>\s*<rect [^>]*fill="#d64545"', chart))
    over = sum(1 for c in rep.by_half_hour if c.abandon_rate is not None and c.abandon_rate > 0.05)
    assert red == over > 0


def _png_colours(data: bytes) -> set[tuple[int, ...]]:
    """The distinct colours of an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours: set[tuple[int, ...]] = set()
    for row in range(len(raw) // (stride + 1)):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        if row % 4 == 0:
            colours.update(tuple(line[i:i + 3]) for i in range(0, stride, channels * 2))
        prev = line
    return colours


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "chromium not installed: apt-get install chromium (scripts/setup-host.sh installs it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _run_chromium(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def test_chromium_renders_the_page(page, tmp_path):
    binary = _chromium()
    path, _ = page
    shot = tmp_path / "monthly.png"
    result = _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", path.as_uri())
    assert shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert len(data) > 30_000, "a page with charts, not a blank one"
    colours = _png_colours(data)
    for name, rgb in (("green bars", (0x3f, 0x9a, 0x5b)), ("red bars/targets", (0xd6, 0x45, 0x45)),
                      ("blue bars", (0x3a, 0x6e, 0xa5))):
        assert rgb in colours, f"no {name} in the screenshot"
    assert len(colours) > 50
    dom = _run_chromium(binary, tmp_path, "--dump-dom", path.as_uri())
    parsed = bar_counts(dom.stdout)
    assert parsed.bars == {"abandon-by-half-hour": 48, "calls-per-hour": 24, "service-level-per-day": 30}, \
        dom.stderr[-2000:]
    shutil.copy(shot, Path(os.environ.get("PBX_REPORT_SCREENSHOT", tmp_path / "kept.png")))


def test_cli_monthly_html_and_table(page, tmp_path):
    from pbx_bridge.cli import cli

    path, _ = page
    store = path.parent / "store.db"
    config = tmp_path / "config.yaml"
    config.write_text(f"store:\n  url: sqlite:///{store}\nami:\n  host: 127.0.0.1\n")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "monthly", "-c", str(config), "--month", "2026-11", "--format",
                                      "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert bar_counts(out.read_text()).bars["service-level-per-day"] == 30
    result = CliRunner().invoke(cli, ["report", "monthly", "-c", str(config), "--from", "2026-11-01", "--to",
                                      "2026-11-07"])
    assert result.exit_code == 0 and "Per company" in result.output and "support" in result.output
    result = CliRunner().invoke(cli, ["report", "monthly", "-c", str(config), "--month", "2026-13"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["report", "intraday", "-c", str(config), "--date", "2026-11-09", "--until",
                                      "11:30", "--format", "json"])
    assert result.exit_code == 0 and '"until": "11:30"' in result.output
    result = CliRunner().invoke(cli, ["report", "handover", "-c", str(config), "--date", "2026-11-09", "--dir",
                                      str(tmp_path / "ho")])
    assert result.exit_code == 0 and (tmp_path / "ho" / "calls-2026-11-09.csv").exists()
    assert date(2026, 11, 9) - timedelta(days=0) == date(2026, 11, 9)
