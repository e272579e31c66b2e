"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

A scheduler runs real jobs on a SQLite file (a thread, the real clock); serve() serves
its dashboard on a free port, with actions for this machine (``local_only``). The test
opens each page, checks that the chart shows the runs and that the page updates itself,
clicks Pause (then Remove, confirming the dialog) and checks the store. Screenshots go
to ``tests/web/screenshots/`` (ignored by git; the path is printed): look at them.

Skipped, with the reason, without /usr/bin/chromium or Playwright. Never downloads a
browser (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1``, ``executable_path``).
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork.stores import SQLiteStore
from tickwork.web import DashboardServer, local_only, serve

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking"]  # fmt: skip


def flaky() -> None:
    raise RuntimeError("upstream said <503>")


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, Scheduler]]:
    scheduler = Scheduler(store=SQLiteStore(tmp_path / "jobs.db"), timezone="UTC")
    scheduler.add_job("tests.control_jobs:ping", "interval", seconds=0.2, id="ping")
    scheduler.add_job("tests.web.test_browser:flaky", "interval", seconds=0.3, id="flaky <b>")
    scheduler.add_job("tests.control_jobs:ping", "cron", "30 2 * * *", id="nightly",
                      timezone="Europe/Berlin")  # fmt: skip
    scheduler.start()
    started = threading.Event()
    servers: list[DashboardServer] = []

    def ready(server: DashboardServer) -> None:
        servers.append(server)
        started.set()

    options: dict[str, Any] = {"allow_actions": True, "authorize": local_only, "refresh": 1}
    thread = threading.Thread(
        target=serve,
        args=(scheduler,),
        kwargs={"port": 0, "ready": ready, "out": io.StringIO(), **options},
        daemon=True,
    )
    thread.start()
    assert started.wait(5)
    deadline = time.monotonic() + 5
    while len(scheduler.history(limit=10)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)  # (a few runs to chart; waits on a condition, not a fixed time)
    try:
        yield servers[0].url, scheduler
    finally:
        servers[0].shutdown()
        thread.join(5)
        scheduler.shutdown()


def test_the_dashboard_in_chromium(dashboard: tuple[str, Scheduler]) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    url, scheduler = dashboard
    SHOTS.mkdir(exist_ok=True)
    print(f"screenshots: {SHOTS}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())
            # Anything the browser complains of (a CSP violation, a script error, a 404
            # for the stylesheet) shows here.
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text)
                    if message.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("response", lambda answer: problems.append(f"{answer.status} {answer.url}")
                    if answer.status >= 400 else None)  # fmt: skip

            page.goto(url)
            assert page.title() == "Jobs · tickwork"
            assert page.locator("tr[data-job]").count() == 3
            assert page.locator("td.id a", has_text="flaky <b>").count() == 1  # as text
            bars = page.locator('svg[data-chart="outcomes"] rect.bar')
            assert bars.count() >= 1
            counted = sum(int(bars.nth(i).get_attribute("data-count") or 0)
                          for i in range(bars.count()))  # fmt: skip
            assert counted >= 6
            failures = page.locator('svg[data-chart="outcomes"] rect[data-outcome="failure"]')
            assert failures.count() >= 1
            # It updates itself (every second here) without a reload.
            # (A locator, not wait_for_function: the page's CSP forbids eval, as it should.)
            page.locator("#status", has_text="updated").wait_for(timeout=5000)
            page.screenshot(path=str(SHOTS / "jobs.png"), full_page=True)

            page.click("td.id a >> text=flaky <b>")
            page.wait_for_selector("tr.run.failure")
            assert "upstream said <503>" in page.inner_text("table.runs")
            page.screenshot(path=str(SHOTS / "job-flaky.png"), full_page=True)

            page.goto(url + "job?id=ping")
            page.click('button[data-action="pause"]')
            page.wait_for_selector("p.flash")
            assert "Paused job ping." in page.inner_text("p.flash")
            assert scheduler.store.get_job("ping").paused
            page.screenshot(path=str(SHOTS / "job-ping-paused.png"), full_page=True)

            page.goto(url + "job?id=nightly")
            assert page.locator("table.fires tbody tr").count() == 10
            page.screenshot(path=str(SHOTS / "job-nightly.png"), full_page=True)

            page.goto(url + "runs?outcome=failure")
            assert page.locator("tr.run.failure").count() >= 1
            assert page.locator("tr.run.success").count() == 0
            page.screenshot(path=str(SHOTS / "runs-failures.png"), full_page=True)

            page.goto(url + "processes")
            assert page.locator("tr[data-process]").count() == 1
            page.screenshot(path=str(SHOTS / "processes.png"), full_page=True)

            page.goto(url + "job?id=nightly")
            page.click('button[data-action="remove"]')  # confirmed by the dialog handler
            page.wait_for_selector("p.flash")
            assert scheduler.get_job("nightly") is None
            assert "nightly" not in [job.id for job in scheduler.store.get_jobs()]
            assert problems == []
        finally:
            browser.close()
