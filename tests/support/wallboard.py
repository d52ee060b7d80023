"""Opens the wallboard page in headless Chromium (Python playwright, Debian's /usr/bin/chromium) and reads
what it shows, as a supervisor would.

    with open_wallboard(ws_port, "pbx-bridge/pbx1") as board:
        board.wait(lambda: board.queue("support") and board.queue("support")["waiting"] == "1")
        board.queue("support")    # {"waiting": "1", "longest_wait": "0:07", "longest_wait_s": 7, ...}
        board.agent("张三丰")      # {"state": "Paused 暂停", "pause_reason": "meal 用餐", ...}
        board.alerts()            # ["10:31:02 Repeat caller · 重复来电 139... called 3× today ...", ...]
        board.banner()            # "" when all is well
        board.screenshot("board.png")

Uses the sync API: call it from plain (non-async) tests. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import urlencode

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGE = Path(__file__).resolve().parents[2] / "pbx_bridge" / "wallboard" / "index.html"
T = TypeVar("T")

_READ_QUEUE = """name => {
  const card = [...document.querySelectorAll('#queues .queue')].find(c => c.dataset.queue === name);
  if (!card) return null;
  const out = {level: card.dataset.level, levels: {}};
  for (const fig of card.querySelectorAll('.fig')) {
    out[fig.dataset.field] = fig.querySelector('.val').textContent;
    out.levels[fig.dataset.field] = fig.dataset.level;
    const sub = fig.querySelector('.sub').textContent;
    if (sub) out[fig.dataset.field + '_note'] = sub;
  }
  out.agents = card.querySelector('.agents-line').textContent;
  return out;
}"""
_READ_AGENT = """name => {
  const tile = [...document.querySelectorAll('#agents .agent')].find(
    t => t.dataset.agent === name || t.querySelector('.aname').textContent === name);
  if (!tile) return null;
  const out = {name: tile.querySelector('.aname').textContent, state_key: tile.dataset.state,
               misses_today: Number(tile.dataset.misses)};
  for (const f of tile.querySelectorAll('[data-field]')) out[f.dataset.field] = f.textContent;
  return out;
}"""


def available() -> str | None:
    """None when the page can be opened here, else why not."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "chromium not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed (pip install -e '.[test]'; never `playwright install`)"
    return None


def seconds(text: str) -> int | None:
    """'1:02:03' / '2:05' -> seconds; '—' -> None."""
    if not text or ":" not in text:
        return None
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


class Wallboard:
    def __init__(self, playwright, browser, page) -> None:
        self._pw, self._browser, self.page = playwright, browser, page
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def queue(self, name: str) -> dict | None:
        data = self.page.evaluate(_READ_QUEUE, name)
        if data is not None:
            data["longest_wait_s"] = seconds(data.get("longest_wait", ""))
        return data

    def agent(self, name: str) -> dict | None:
        data = self.page.evaluate(_READ_AGENT, name)
        if data is not None:
            data["time_in_state_s"] = seconds(data.get("time_in_state", ""))
        return data

    def alerts(self) -> list[str]:
        return self.page.evaluate("""() => [...document.querySelectorAll('#alerts .alert')]
            .map(li => [...li.children].map(c => c.textContent).join(' '))""")

    def banner(self) -> str:
        return self.page.evaluate("() => { const b = document.getElementById('banner'); "
                                  "return b.hidden ? '' : b.textContent; }")

    def stale(self) -> bool:
        return self.page.evaluate("() => document.body.classList.contains('stale')")

    def screenshot(self, path: str | os.PathLike, full_page: bool = True) -> None:
        self.page.screenshot(path=str(path), full_page=full_page)

    def wait(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.1) -> T:
        """Polls until predicate() is truthy and returns it; AssertionError with the page's state otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"wallboard: condition not met in {timeout} s; banner={self.banner()!r}, "
                                     f"console={self.console[-5:]}")
            time.sleep(interval)

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def __enter__(self) -> "Wallboard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_wallboard(ws_port: int | None = None, prefix: str | None = "pbx-bridge/pbx1", *, url: str | None = None,
                   params: dict | None = None, viewport: tuple[int, int] = (1600, 900)) -> Wallboard:
    """Opens the page against the broker's websockets listener on 127.0.0.1:ws_port.

    `url` is the page (default: the package's index.html as a file: URL; pass the daemon's
    wallboard server, e.g. http://127.0.0.1:8480/, to test it as served). `params` adds query
    settings (sl_target, user, password, ...).
    """
    from playwright.sync_api import sync_playwright

    query = {}
    if ws_port is not None:
        query["broker"] = f"ws://127.0.0.1:{ws_port}"
    if prefix is not None:
        query["prefix"] = prefix
    query.update(params or {})
    base = url or PAGE.as_uri()
    target = base + ("?" + urlencode(query) if query else "")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                timezone_id=os.environ.get("TZ") or "Asia/Shanghai")
        board = Wallboard(pw, browser, page)
        page.goto(target)
        return board
    except BaseException:
        pw.stop()
        raise
