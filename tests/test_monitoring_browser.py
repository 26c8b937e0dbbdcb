"""The dashboard in a real Chromium: it refreshes itself without reloading, and tables sort."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests import factories
from tests.conftest import TEST_PASSWORD
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.store import save_slow_queries

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page(live_server: str, app: Flask):
    if not shutil.which(CHROMIUM):
        pytest.skip("needs Chromium at /usr/bin/chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with app.app_context():
        operator = factories.make_operator(role=OperatorRole.VIEWER, password=TEST_PASSWORD)
        email = operator.email
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server}/login?next=/admin/dashboard/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("[type=submit]")
        page.wait_for_url("**/admin/dashboard/")
        yield page
        browser.close()


def test_dashboard_refreshes_from_json_without_reloading(page) -> None:
    page.evaluate("window.loadedOnce = true")
    clock = page.locator('[data-field="generated_at"]').first
    first = clock.inner_text()
    page.wait_for_function(
        "previous => document.querySelector('[data-field=generated_at]').textContent !== previous", arg=first,
        timeout=12_000,
    )
    assert page.evaluate("window.loadedOnce") is True, "the page was not reloaded"
    assert page.locator('svg[data-chart="connections"] text').count() > 0, "the chart was drawn"
    assert not page.locator("#dashboard-problem").is_visible()


def test_clicking_a_header_sorts_the_table(app: Flask, page) -> None:
    now = utcnow()
    captures = [
        SlowQuery(f"{calls:016x}", f"SELECT {calls}", calls=calls, total_ms=1000.0 / calls, max_ms=900.0, rows=0,
                  first_seen=now, last_seen=now, request_path="/")
        for calls in (5, 1, 3)
    ]
    with app.app_context(), db.engine.begin() as connection:
        save_slow_queries(connection, captures)
    page.reload()
    table = page.locator('table[data-rows="slow_queries.top"]')
    calls_column = table.locator("tbody tr td:nth-child(2)")
    assert calls_column.all_inner_texts() == ["1", "3", "5"], "costliest (total time) first"

    header = table.locator('th[data-key="calls"]')
    header.click()
    assert (header.get_attribute("aria-sort"), calls_column.all_inner_texts()) == ("descending", ["5", "3", "1"])
    header.click()
    assert (header.get_attribute("aria-sort"), calls_column.all_inner_texts()) == ("ascending", ["1", "3", "5"])
