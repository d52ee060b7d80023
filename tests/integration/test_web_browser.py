"""The reports in a browser, end to end: the real daemon (`pbx-bridge run`, its web listener) on a
store holding a month of calls, driven by headless Chromium as a team lead would: log in, open each
page, read the monthly figures and compare them with `pbx-bridge report monthly --format json` for
the same month, log out, and find every page refused again. No lab: AMI points at a closed port.

Off CI the test skips when chromium or playwright is missing; in CI (CI=true) it fails instead
(as tests/unit/test_wallboard_page.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pbx_bridge.rooms import upgrade
from tests.integration.test_listeners import free_port
from tests.support import wallboard
from tests.support.daemon import DaemonProcess
from tests.support.web import LEAD, SECRET, VIEWER, users_file
from tests.unit.test_reports_html import SETTINGS, busy_month
from tests.unit.test_reports_kpi import seed

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MONTH = "2026-11"


def need(reason: str | None) -> None:
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def formatted(figure: dict) -> str:
    """A figure of the CLI's JSON as the page prints it (reports/monthly.py fmt)."""
    value = figure["value"]
    if value is None:
        return figure["note"] or "-"
    return f"{value:.1f} s" if figure["unit"] == "s" else (f"{value:.1%}" if figure["unit"] == "share" else f"{value:.1f}")


@pytest.fixture(scope="module")
def month_store(tmp_path_factory) -> Path:
    need(wallboard.available())
    path = tmp_path_factory.mktemp("web") / "store.db"
    upgrade(f"sqlite:///{path}")
    seed(f"sqlite:///{path}", busy_month())
    return path


@pytest.fixture
def site(month_store, tmp_path):
    """A daemon per test (the integration conftest stops every daemon after its test)."""
    tmp = tmp_path
    url = f"sqlite:///{tmp}/store.db"
    shutil.copy(month_store, tmp / "store.db")
    port = free_port()
    proc = DaemonProcess(
        tmp, url, ami={"port": free_port()}, agi={"port": free_port()},
        wallboard={"enabled": True, "host": "127.0.0.1", "port": port},
        web={"enabled": True, "users_file": str(users_file(tmp / "users.yaml"))},
        reports={"companies": dict(SETTINGS.companies), "scheduler": False},
    )
    proc.env["PBX_BRIDGE_WEB_SECRET"] = SECRET
    proc.start(wait_connected=False)
    try:
        proc.wait_for("wallboard_listening")
        cli = subprocess.run([sys.executable, "-m", "pbx_bridge", "report", "monthly", "-c", str(proc.config_path),
                              "--month", MONTH, "--format", "json"], capture_output=True, text=True, env=proc.env,
                             check=True)
        yield proc, f"http://127.0.0.1:{port}", json.loads(cli.stdout)
    finally:
        if proc.proc is not None:
            assert proc.sigterm() == 0


@pytest.fixture
def browser(site):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(
        executable_path=wallboard.CHROMIUM if Path(wallboard.CHROMIUM).exists() else shutil.which("chromium"),
        headless=True, args=wallboard.CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


def log_in(page, base: str, who: tuple[str, str], target: str = f"/reports/monthly?month={MONTH}"):  # noqa: ANN001
    page.goto(base + target)
    assert "/reports/login" in page.url
    page.fill("#user", who[0])
    page.fill("#password", who[1])
    page.click("#login")
    page.wait_for_load_state()


def test_a_lead_logs_in_reads_every_page_and_the_monthly_figures_are_the_clis_then_logs_out(site, browser):
    proc, base, cli = site
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))

    log_in(page, base, LEAD)
    assert page.url == f"{base}/reports/monthly?month={MONTH}", page.content()[:2000]
    assert page.url == f"{base}/reports/monthly?month={MONTH}"
    cookie = next(c for c in context.cookies() if c["name"] == "pbxb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # the figure cards: one per figure of the CLI's total, then the calls offered
    cards = page.locator(".card .v").all_text_contents()
    total = cli["total"]
    assert cards[: len(total["figures"])] == [formatted(f) for f in total["figures"]]
    assert cards[len(total["figures"])] == str(total["offered"])
    # the companies' table: offered, answered, abandoned per company as the CLI counts them
    rows = {r[0]: r[1:4] for r in page.locator("table").first.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")}
    for company in cli["companies"]:
        assert rows[company["company"]] == [str(company["offered"]), str(company["answered"]),
                                            str(company["abandoned"])]
    assert page.locator("svg.chart").count() == 3  # the charts, under the strict CSP

    # the month picker
    page.fill("input[name=month]", "2026-10")
    page.click("form.pick button")
    page.wait_for_load_state()
    assert page.url.endswith("/reports/monthly?month=2026-10")
    assert page.locator(".card .v").count() >= 1

    # every page of the navigation
    links = page.locator("nav.web a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert len(links) == 8
    for href in links:
        answer = page.goto(base + href)
        assert answer.status == 200, href
        assert page.locator("h1, .card").count() >= 1, href
    page.goto(f"{base}/reports/intraday?date=2026-11-03")
    assert page.locator("#intraday tbody tr").count() >= 2
    page.goto(f"{base}/reports/ring-twice?month={MONTH}")
    assert page.locator("#ring-twice tbody tr").count() >= 1

    # no inline style or script was refused: the CSP lets the report's own styles through by hash
    assert not [m for m in console if "Content Security Policy" in m], console

    # log out: every page is refused again, with the old cookie too
    page.click("#logout")
    page.wait_for_load_state()
    assert "/reports/login" in page.url
    for href in links:
        answer = page.goto(base + href)
        assert "/reports/login" in page.url, href
        assert page.locator("table, .card, svg").count() == 0, href
    context.add_cookies([{**cookie, "expires": -1}])
    page.goto(f"{base}/reports/monthly?month={MONTH}")
    assert "/reports/login" in page.url and page.locator(".card").count() == 0
    context.close()


def test_in_the_browser_a_wrong_password_gets_nothing_and_a_viewer_only_the_reports(site, browser):
    proc, base, _ = site
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base, (LEAD[0], "not the password"))
    assert "/reports/login" in page.url and "wrong user name or password" in page.inner_text("#login-error")
    assert not context.cookies()
    page.goto(f"{base}/reports/monthly?month={MONTH}")
    assert "/reports/login" in page.url and page.locator(".card").count() == 0

    log_in(page, base, VIEWER)
    assert page.locator(".card").count() >= 1
    assert page.locator("nav.web a").count() == 3
    assert page.goto(f"{base}/reports/callbacks").status == 403
    context.close()


def test_a_broken_users_file_stops_the_start_with_its_file_and_line(tmp_path):
    bad = tmp_path / "users.yaml"
    bad.write_text("users:\n  ann:\n    role: root\n    password: x\n")
    proc = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", ami={"port": free_port()},
                         agi={"port": free_port()}, wallboard={"enabled": True, "host": "127.0.0.1", "port": free_port()},
                         web={"enabled": True, "users_file": str(bad)})
    proc.start(wait_connected=False)
    assert proc.exited(30) == 2
    assert f"{bad}:3: users.ann.role" in proc.log_path.read_text()
