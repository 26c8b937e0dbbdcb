"""Journey 10: the database health dashboard. Tiles show figures, the charts draw, a slow statement
run meanwhile appears in the slow-query table by the page's own refresh (no reload), and the
tables sort by a click on their headers."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import text

from tests.admin_support import table_missing
from tests.browser.conftest import Screenshot, SignIn
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import Monitoring
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.store import save_sample, save_slow_queries

NUMBER = re.compile(r"^\d[\d,]*(\.\d+)?$")
SLOW_STATEMENT, SLOW_STATEMENT_MS = "SELECT pg_sleep(0.25)", 200
LAPTOP = {"width": 1366, "height": 768}
# As long as PostgreSQL allows (63 characters): the longest name the unused-index table may list.
LONG_INDEX = "ix_tasks_title_kept_for_the_quarterly_review_of_every_northwind"
# Tables shown on the page whose wrapper must scroll sideways to show them whole.
TABLES_WIDER_THAN_THEIR_COLUMN = """() => Array.from(document.querySelectorAll("#dashboard .table-responsive"))
    .filter((box) => box.offsetParent !== null && box.scrollWidth > box.clientWidth)
    .map((box) => box.querySelector("table").dataset.rows)"""


def publish_round(app: Flask) -> Monitoring:
    """What each worker's publisher thread does every MONITORING_INTERVAL_SECONDS, done now:
    its pool snapshot, a history sample and its pending slow statements go to the shared store."""
    monitoring: Monitoring = app.extensions["monitoring"]
    monitoring.publisher.publish_once()
    return monitoring


def seed_an_hour_of_history(app: Flask) -> None:
    """One sample a minute for the past hour from this worker, as its publisher would have left
    them, with a busy spell in the middle: the charts have a shape to draw."""
    publisher = app.extensions["monitoring"].publisher
    now = utcnow()
    with app.app_context(), db.engine.begin() as connection:
        for minutes_ago in range(60, 0, -1):
            busy = 20 <= minutes_ago <= 35
            save_sample(
                connection,
                publisher.host,
                publisher.pid,
                now - timedelta(minutes=minutes_ago),
                checked_out_peak=(6 if busy else 2) + minutes_ago % 3,
                wait_p95_ms=(12.0 if busy else 0.8) + minutes_ago % 4,
                wait_max_ms=(40.0 if busy else 3.0) + minutes_ago % 5 * 2,
            )


@pytest.fixture
def long_unused_index(app: Flask) -> Iterator[str]:
    """A fresh index (zero scans) with the longest name PostgreSQL takes; dropped afterwards, since
    tests share the schema."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"CREATE INDEX {LONG_INDEX} ON tasks (title)"))
    yield LONG_INDEX
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {LONG_INDEX}"))


def tile_card(page: Page, label: str) -> Locator:
    return page.locator(".dashboard-tile").filter(has=page.get_by_text(label, exact=True))


def tile(page: Page, label: str) -> Locator:
    return tile_card(page, label).locator(".dashboard-tile-value [data-field]")


def tile_unit(page: Page, label: str) -> Locator:
    return tile_card(page, label).locator(".dashboard-tile-unit")


def save_slow_statements(app: Flask, *calls: int) -> None:
    """Slow statements as the workers' publishers store them, one fingerprint per entry of calls."""
    now = utcnow()
    captures = [
        SlowQuery(
            f"{count:016x}",
            f"SELECT {count}",
            calls=count,
            total_ms=1000.0 / count,
            max_ms=900.0,
            rows=0,
            first_seen=now,
            last_seen=now,
            request_path="/",
        )
        for count in calls
    ]
    with app.app_context(), db.engine.begin() as connection:
        save_slow_queries(connection, captures)


@pytest.mark.postgres  # the slow statement is PostgreSQL's pg_sleep; the server panels too
def test_dashboard_shows_pool_tiles_draws_charts_and_refreshes_in_place_with_a_new_slow_query(
    page: Page, app: Flask, sign_in: SignIn, screenshot: Screenshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite's threshold is far above anything it runs; this test's statement is slow on purpose.
    monkeypatch.setattr(app.extensions["monitoring"].slow_queries, "threshold_ms", SLOW_STATEMENT_MS)
    seed_an_hour_of_history(app)
    publish_round(app)
    sign_in(page, OperatorRole.ADMIN)
    page.goto("/admin/dashboard/")
    slow_table = page.locator('table[data-rows="slow_queries.top"]')
    expect(slow_table).not_to_contain_text("pg_sleep")

    for label in ("Checked out", "Idle", "Pool timeouts", "Workers"):
        expect(tile(page, label)).to_have_text(NUMBER)
    assert int(tile(page, "Workers").inner_text()) >= 1
    for chart in ("connections", "wait"):
        drawn = page.locator(f'svg[data-chart="{chart}"]')
        expect(drawn.locator("polyline.series").first).to_have_attribute("points", re.compile(r"(\S+ ){30}"))
        expect(drawn.locator("text.axis")).to_have_count(6)
    box = page.locator('svg[data-chart="connections"]').bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50

    page.evaluate("window.dashboardLoadedOnce = true")
    updated = page.locator('[data-field="generated_at"]')
    first_update = updated.inner_text()
    with app.app_context():
        db.session.execute(text(SLOW_STATEMENT))
        db.session.rollback()
    publish_round(app)

    # The page asks data.json every 5 s and redraws in place: no reload, no click.
    expect(slow_table).to_contain_text("SELECT pg_sleep($1)")
    expect(updated).not_to_have_text(first_update)
    assert page.evaluate("window.dashboardLoadedOnce") is True, "the page was reloaded"
    expect(page.locator("#dashboard-problem")).to_be_hidden()
    screenshot(page, "dashboard")


@pytest.mark.postgres  # the server and table panels
def test_wide_tables_stay_inside_their_column_on_a_1366_px_screen(
    page: Page, app: Flask, sign_in: SignIn, long_unused_index: str
) -> None:
    page.set_viewport_size(LAPTOP)
    publish_round(app)
    sign_in(page, OperatorRole.VIEWER)
    page.goto("/admin/dashboard/")
    page.wait_for_load_state("networkidle")  # the tables as the script redraws them from data.json

    unused = page.locator('table[data-rows="tables.unused_indexes"]')
    expect(unused.locator("td", has_text=long_unused_index)).to_have_count(1)
    expect(unused.locator("thead th")).to_have_text(["Index", "Table", "Size"])
    assert page.evaluate(TABLES_WIDER_THAN_THEIR_COLUMN) == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_clicking_a_header_sorts_the_table(page: Page, app: Flask, sign_in: SignIn) -> None:
    save_slow_statements(app, 5, 1, 3)
    sign_in(page, OperatorRole.VIEWER)
    page.goto("/admin/dashboard/")
    table = page.locator('table[data-rows="slow_queries.top"]')
    calls_column = table.locator("tbody tr td:nth-child(2)")
    expect(calls_column).to_have_text(["1", "3", "5"])  # costliest (total time) first

    header = table.locator('th[data-key="calls"]')
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(calls_column).to_have_text(["5", "3", "1"])
    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(calls_column).to_have_text(["1", "3", "5"])


def test_tile_units_follow_their_counts_when_the_page_refreshes(page: Page, app: Flask, sign_in: SignIn) -> None:
    sign_in(page, OperatorRole.VIEWER)
    page.goto("/admin/dashboard/")
    expect(tile(page, "Slow statements")).to_have_text("0")
    expect(tile_unit(page, "Slow statements")).to_have_text("calls")
    expect(tile_unit(page, "Distinct")).to_have_text("fingerprints")

    save_slow_statements(app, 1)  # redrawn from data.json within a refresh, no reload
    expect(tile(page, "Slow statements")).to_have_text("1")
    expect(tile_unit(page, "Slow statements")).to_have_text("call")
    expect(tile_unit(page, "Distinct")).to_have_text("fingerprint")
    expect(tile_card(page, "Distinct").locator(".dashboard-tile-note")).to_have_text("the costliest 1 below")

    save_slow_statements(app, 2)
    expect(tile(page, "Slow statements")).to_have_text("3")
    expect(tile_unit(page, "Slow statements")).to_have_text("calls")
    expect(tile_unit(page, "Distinct")).to_have_text("fingerprints")
    expect(tile_unit(page, "Checked out")).to_have_text(re.compile(r"^connections?$"))


@pytest.fixture
def history_table_gone(app: Flask) -> Iterator[None]:
    with table_missing(app, "monitoring_pool_samples"):
        yield


def test_an_unavailable_panel_says_why_and_the_page_keeps_refreshing(
    page: Page, app: Flask, sign_in: SignIn, history_table_gone: None
) -> None:
    sign_in(page, OperatorRole.VIEWER)
    page.goto("/admin/dashboard/")
    alert = page.locator('[data-show-if="history.error"]')
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Pool history unavailable: ")
    expect(alert).to_contain_text("monitoring_pool_samples")
    expect(page.locator('svg[data-chart="wait"]')).to_be_hidden()
    expect(tile(page, "Workers")).to_have_text(NUMBER)

    updated = page.locator('[data-field="generated_at"]')
    first_update = updated.inner_text()
    save_slow_statements(app, 1)
    expect(tile(page, "Slow statements")).to_have_text("1")  # redrawn from data.json
    expect(updated).not_to_have_text(first_update)
    expect(alert).to_be_visible()
    expect(page.locator("#dashboard-problem")).to_be_hidden()
