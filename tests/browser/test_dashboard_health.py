"""Journey 11: database health beyond the pools. From the dashboard an admin opens a statement's
plan (a large sequential scan flagged), the index advice (a suggestion priced by hypopg), the
statement history (a regressed statement), and cancels a long-running backend after a
confirmation naming its fingerprint. Every new panel fits a 1366 px screen."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.browser.conftest import Screenshot, SignIn
from tests.monitoring_support import FORGET_STATEMENTS, Sleeper, seed_rounds
from tests.waits import wait_for
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import Monitoring

pytestmark = pytest.mark.postgres

TABLE = "journey_orders"
ROWS = 30_000
STATEMENT = f"SELECT id, total FROM {TABLE} WHERE customer = $1"
LAPTOP = {"width": 1366, "height": 768}
TABLES_WIDER_THAN_THEIR_COLUMN = """() => Array.from(document.querySelectorAll("#dashboard .table-responsive"))
    .filter((box) => box.offsetParent !== null && box.scrollWidth > box.clientWidth)
    .map((box) => box.querySelector("table").dataset.rows)"""


def execute(app: Flask, *statements: str, **parameters: object) -> None:
    with app.app_context(), db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), parameters)


@pytest.fixture
def busy_table(app: Flask) -> Iterator[int]:
    """A table the app scans by an unindexed column, often; yields that statement's queryid."""
    with app.app_context():
        available = db.session.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"))
        db.session.rollback()
    if not available:
        pytest.skip("hypopg is not installed (Debian: postgresql-15-hypopg)")
    execute(
        app,
        FORGET_STATEMENTS,
        "CREATE EXTENSION IF NOT EXISTS hypopg",
        f"CREATE TABLE {TABLE} AS SELECT g AS id, 'customer-' || g % 3000 AS customer, g % 997 AS total "
        f"FROM generate_series(1, {ROWS}) g",
        f"ANALYZE {TABLE}",
    )
    for n in range(3):
        execute(app, f"SELECT id, total FROM {TABLE} WHERE customer = :customer", customer=f"customer-{n}")
    with app.app_context():
        queryid = db.session.scalar(
            # pg_stat_statements is the cluster's: the same text run in another database (another
            # test run's) has a queryid of its own.
            text(
                "SELECT queryid FROM pg_stat_statements WHERE query = :query"
                " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"query": STATEMENT},
        )
        db.session.rollback()
    yield queryid
    execute(app, f"DROP TABLE {TABLE}", "DROP EXTENSION IF EXISTS hypopg")


@pytest.fixture
def quick_long_running(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Statements count as long-running after 1 s, so the journey need not wait 5."""
    monitoring: Monitoring = app.extensions["monitoring"]
    quicker = dataclasses.replace(monitoring.thresholds, long_running_seconds=1)
    monkeypatch.setitem(app.extensions, "monitoring", dataclasses.replace(monitoring, thresholds=quicker))


def test_an_admin_reads_a_plan_an_index_suggestion_a_regression_and_cancels_a_backend(
    page: Page,
    app: Flask,
    sign_in: SignIn,
    screenshot: Screenshot,
    busy_table: int,
    quick_long_running: None,
    database_url: str,
) -> None:
    with app.app_context(), db.engine.begin() as connection:
        seed_rounds(
            connection, [(timedelta(minutes=90), 60, 600.0), (timedelta(minutes=20), 60, 2400.0)], busy_table, STATEMENT
        )
    page.set_viewport_size(LAPTOP)
    sign_in(page, OperatorRole.ADMIN)
    page.goto("/admin/dashboard/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#database-heading")).to_be_visible()
    expect(page.locator('table[data-rows="pool.histograms"]')).to_contain_text("Acquire: waiting for a free connection")
    assert page.evaluate(TABLES_WIDER_THAN_THEIR_COLUMN) == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot(page, "dashboard-full", full_page=True)

    # A plan, from the server's top statements.
    statements = page.locator('table[data-rows="statements.statements"]')
    row = statements.locator("tbody tr", has_text=f"FROM {TABLE} WHERE customer = $1")
    row.get_by_role("link", name="Plan").click()
    expect(page).to_have_url(re.compile(rf"/admin/dashboard/plan\?queryid={busy_table}$"))
    scan = page.locator("#plan-tree tr.dashboard-flagged")
    expect(scan).to_contain_text("Seq Scan")
    expect(scan).to_contain_text(f"sequential scan over about {ROWS:,} rows")
    screenshot(page, "dashboard-plan", full_page=True)

    # The index that would serve it, priced by the planner.
    page.goto("/admin/dashboard/")
    page.get_by_role("link", name="Index advice").click()
    suggestion = page.locator(".dashboard-suggestion", has_text=f"CREATE INDEX CONCURRENTLY ON {TABLE} (customer);")
    expect(suggestion).to_contain_text("Planner cost")
    expect(page.locator("#advice-method")).to_contain_text("Priced with hypopg")
    screenshot(page, "dashboard-index-advice", full_page=True)

    # The statement got slower: four times the mean of the hour before.
    page.goto("/admin/dashboard/")
    page.get_by_role("link", name="Statement history and regressions").click()
    page.get_by_role("link", name="1h", exact=True).click()
    regressed = page.locator('table[data-rows="history.regressed"] tbody tr', has_text=STATEMENT)
    expect(regressed).to_contain_text("300.0 %")
    screenshot(page, "dashboard-regressed", full_page=True)

    # A report that runs too long, stopped from the dashboard.
    sleeper = Sleeper(database_url)
    try:
        wait_for(lambda: sleeper.running(app), 30, "the long statement to start")
        page.goto("/admin/dashboard/")
        long_running = page.locator('table[data-rows="activity.long_running"] tbody tr', has_text="pg_sleep")
        long_running.get_by_role("link", name="Stop…").click()
        fingerprint = page.locator("#backend-fingerprint").inner_text()
        assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)
        expect(page.locator("#backend-statement")).to_contain_text("SELECT pg_sleep($1)")
        screenshot(page, "dashboard-stop-backend")
        page.get_by_role("button", name=f"Cancel statement {fingerprint}").click()
        expect(page.locator(".alert-dismissable.alert-success")).to_contain_text(
            f"Cancelled the statement {fingerprint}"
        )
        sleeper.thread.join(30)
        assert sleeper.ended_by == ["cancel"]
        screenshot(page, "dashboard-backend-cancelled")
    finally:
        sleeper.stop()
