"""The dashboard over HTTP: who may see it, what it shows, resetting (``/metrics``: test_monitoring_metrics.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import event, func, select

from tests import conftest
from tests.admin_support import only_connection_taken, signed_in_on_a_one_connection_pool, table_missing
from tests.conftest import Auth, is_postgres
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import Monitoring, pg_statements
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.store import SlowQueryStat, save_slow_queries


@pytest.fixture
def monitoring(app: Flask) -> Iterator[Monitoring]:
    monitoring: Monitoring = app.extensions["monitoring"]
    monitoring.slow_queries.clear()
    yield monitoring
    monitoring.slow_queries.clear()


def store_slow_queries(app: Flask, count: int) -> None:
    now = utcnow()
    captures = [
        SlowQuery(
            f"{n:016x}",
            f"SELECT * FROM report_{n} WHERE id = ?",
            calls=n + 1,
            total_ms=300.0 * (n + 1),
            max_ms=400.0,
            rows=n,
            first_seen=now - timedelta(hours=1),
            last_seen=now,
            request_path="/admin/task/",
        )
        for n in range(count)
    ]
    with app.app_context(), db.engine.begin() as connection:
        save_slow_queries(connection, captures)


def slow_query_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SlowQueryStat))


def this_worker(data: dict) -> dict:
    [worker] = [worker for worker in data["pool"]["workers"] if worker["serving_this_page"]]
    return worker


def test_dashboard_json_refuses_anonymous_visitors_with_401_json(client: FlaskClient) -> None:
    response = client.get("/admin/dashboard/data.json")
    assert response.status_code == 401
    assert response.get_json() == {"error": "authentication required"}


def test_dashboard_page_sends_anonymous_visitors_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_viewer_sees_dashboard_as_first_menu_entry_without_reset(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    html = client.get("/admin/dashboard/").get_data(as_text=True)
    assert "Database health" in html
    menu = re.findall(r'<a class="nav-link[^"]*" href="([^"]+)"', html)
    assert menu[:2] == ["/admin/", "/admin/dashboard/"], "Dashboard comes right after Home"
    assert "Reset statistics" not in html
    assert 'src="http' not in html and 'href="http' not in html, "no asset from outside the app"


def test_several_checked_out_connections_show_on_the_dashboard(app: Flask, client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    before = this_worker(client.get("/admin/dashboard/data.json").get_json())["pool"]["checked_out"]
    with app.app_context():
        held = [db.engine.connect() for _ in range(3)]
        try:
            data = client.get("/admin/dashboard/data.json").get_json()
            page = client.get("/admin/dashboard/").get_data(as_text=True)
        finally:
            for connection in held:
                connection.close()
    pool = this_worker(data)["pool"]
    assert pool["checked_out"] == before + 3
    assert data["pool"]["totals"]["checked_out"] >= pool["checked_out"]
    assert pool["pool_class"] == "QueuePool" and pool["checkouts"] >= 3
    assert f'data-sort="{before + 3}"' in page


def test_dashboard_lists_stored_slow_queries_costliest_first(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    store_slow_queries(app, 3)
    auth.login(OperatorRole.VIEWER)
    data = client.get("/admin/dashboard/data.json").get_json()
    top = data["slow_queries"]["top"]
    assert [row["query"] for row in top] == [f"SELECT * FROM report_{n} WHERE id = ?" for n in (2, 1, 0)]
    assert top[0]["mean_ms"] == 300.0 and top[0]["calls"] == 3
    assert (data["slow_queries"]["fingerprints"], data["slow_queries"]["calls"]) == (3, 6)
    html = client.get("/admin/dashboard/").get_data(as_text=True)
    assert "SELECT * FROM report_2 WHERE id = ?" in html and "0000000000000002" in html


def test_stored_slow_query_texts_are_shown_without_literals(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    """A row stored by an earlier release holds what its hand-written normalizer let through."""
    now = utcnow()
    leaked = SlowQuery(
        "00000000000000aa", "SELECT \"it's\" FROM tasks WHERE title = 'ada lovelace'", 1, 300.0, 300.0, 1, now, now, "/"
    )
    with app.app_context(), db.engine.begin() as connection:
        save_slow_queries(connection, [leaked])
    auth.login(OperatorRole.VIEWER)
    data = client.get("/admin/dashboard/data.json").get_json()
    assert [row["query"] for row in data["slow_queries"]["top"]] == ['SELECT "it\'s" FROM tasks WHERE title = $1']
    assert "lovelace" not in client.get("/admin/dashboard/").get_data(as_text=True)


def test_a_panel_that_fails_is_shown_unavailable_and_the_others_still_render(
    app: Flask, client: FlaskClient, auth: Auth
) -> None:
    auth.login(OperatorRole.VIEWER)
    with table_missing(app, "monitoring_slow_queries"):
        response = client.get("/admin/dashboard/data.json")
        page = client.get("/admin/dashboard/")
    assert response.status_code == 200
    data = response.get_json()
    assert "monitoring_slow_queries" in data["slow_queries"]["error"]
    assert this_worker(data)["pool"]["pool_class"] and data["history"]["hours"] == 1
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.findall(r'data-show-if="(\w+)\.error">', html) == ["slow_queries"], "only that panel is unavailable"
    [alert] = re.findall(r'data-show-if="slow_queries.error">(.*?)</div>', html, re.S)
    assert "Slow queries unavailable:" in alert and "monitoring_slow_queries" in alert
    assert 'data-hide-if="slow_queries.error" hidden' in html, "no empty table stands for the missing figures"
    # The findings still render: what they say depends on this database's state (earlier tests
    # leave dead rows behind), so the page must say what data.json says, not "healthy" as such.
    findings = [escape(finding["message"]) for finding in data["findings"]]
    assert all(message in html for message in findings) if findings else "Pools and database look healthy." in html


def pool_findings(data: dict) -> list[str]:
    return [finding["message"] for finding in data["findings"] if "connection" in finding["message"]]


# A cold server (or one across a slow network) takes this long to open each new connection.
SLOW_CONNECT_SECONDS = 0.15


def test_slow_first_connects_are_not_reported_as_an_exhausted_pool(make_app: conftest.AppFactory) -> None:
    cold = make_app()
    with cold.app_context():
        engine = db.engine
    event.listen(engine, "do_connect", lambda *args: time.sleep(SLOW_CONNECT_SECONDS))
    auth = Auth(cold, cold.test_client())
    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert pool_findings(data) == []
    pool = this_worker(data)["pool"]
    assert pool["connections_opened"] >= 1 and pool["connect_max_ms"] >= SLOW_CONNECT_SECONDS * 1000
    assert pool["wait_max_ms"] == 0, "no checkout found the pool full"


@pytest.mark.postgres
def test_checkouts_that_waited_on_a_full_pool_are_reported(make_app: conftest.AppFactory) -> None:
    auth = signed_in_on_a_one_connection_pool(make_app)
    with only_connection_taken(auth.app):
        assert auth.client.get("/admin/dashboard/").status_code == 503
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert this_worker(data)["pool"]["wait_max_ms"] >= 1000
    findings = pool_findings(data)
    assert any("1 request gave up waiting for a connection" in message for message in findings), findings
    assert any("the pool was exhausted" in message for message in findings), findings


TILE = re.compile(
    r'<div class="dashboard-tile-label">([^<]+)</div>\s*<div class="dashboard-tile-value">(.*?)</div>'
    r'\s*<div class="dashboard-tile-note">(.*?)</div>',
    re.S,
)


def tiles(html: str) -> dict[str, tuple[str, str]]:
    """What each tile reads, as an operator sees it: {label: (figure and unit, note)}."""

    def plain(fragment: str) -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())

    return {label: (plain(value), plain(note)) for label, value, note in TILE.findall(html)}


def agrees(count_and_noun: str, singular: str, plural: str) -> bool:
    count, noun = count_and_noun.split(" ", 1)
    return noun == (singular if count == "1" else plural)


def test_tile_units_agree_with_their_counts(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    auth.login(OperatorRole.VIEWER)
    none = tiles(client.get("/admin/dashboard/").get_data(as_text=True))
    assert none["Slow statements"] == ("0 calls", "since reset")
    assert none["Distinct"] == ("0 fingerprints", "the costliest 0 below")
    assert none["Time in them"][0] == "0 ms"
    assert none["Checkout wait p95"][0].endswith(" ms") and none["Workers"][0] == "1 live"

    store_slow_queries(app, 1)  # one statement, called once
    with app.app_context():
        held = db.engine.connect()
        try:
            one = tiles(client.get("/admin/dashboard/").get_data(as_text=True))
        finally:
            held.close()
    assert one["Slow statements"] == ("1 call", "since reset")
    assert one["Distinct"] == ("1 fingerprint", "the costliest 1 below")
    for label in ("Checked out", "Idle"):
        assert agrees(one[label][0], "connection", "connections"), one[label]
    timeouts, invalidated = one["Pool timeouts"]
    assert timeouts.endswith(" since reset")
    assert agrees(invalidated.removesuffix(" invalidated"), "connection", "connections"), invalidated

    store_slow_queries(app, 2)  # two more statements, called 1 and 2 times
    two = tiles(client.get("/admin/dashboard/").get_data(as_text=True))
    assert (two["Slow statements"][0], two["Distinct"][0]) == ("4 calls", "2 fingerprints")


def test_dashboard_query_count_does_not_grow_with_captured_fingerprints(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    auth.login(OperatorRole.VIEWER)

    def statements_for_one_page() -> int:
        executed: list[str] = []
        with app.app_context():
            listener = lambda *args: executed.append(args[2])  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                assert client.get("/admin/dashboard/").status_code == 200
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            # Not counted: the texts of pg_stat_statements entries this worker has not shown yet
            # (storing the fingerprints ran a new statement), read once each.
            texts = str(pg_statements.TEXTS.compile(dialect=db.engine.dialect))
        return len([statement for statement in executed if statement != texts])

    store_slow_queries(app, 2)
    few = statements_for_one_page()
    store_slow_queries(app, 300)
    assert statements_for_one_page() == few


@pytest.mark.parametrize("hours", ["2", "all", "-1"])
def test_unknown_history_range_is_a_clear_400(client: FlaskClient, auth: Auth, hours: str) -> None:
    auth.login(OperatorRole.VIEWER)
    response = client.get(f"/admin/dashboard/data.json?hours={hours}")
    assert response.status_code == 400
    assert "hours must be one of 1, 6, 24" in response.get_data(as_text=True)


def test_history_ranges_are_served(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    for hours, minutes_per_point in ((1, 1), (6, 5), (24, 15)):
        history = client.get(f"/admin/dashboard/data.json?hours={hours}").get_json()["history"]
        assert (history["hours"], history["minutes_per_point"]) == (hours, minutes_per_point)


def test_reset_without_csrf_token_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    store_slow_queries(app, 2)
    auth.login(OperatorRole.ADMIN)
    response = client.post("/admin/dashboard/reset")
    assert response.status_code == 400
    assert slow_query_count(app) == 2


def test_editor_may_not_reset_statistics(app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring) -> None:
    store_slow_queries(app, 2)
    auth.login(OperatorRole.EDITOR)
    token = auth.csrf_token("/admin/tag/new/")
    response = client.post("/admin/dashboard/reset", data={"csrf_token": token})
    assert response.status_code == 403
    assert slow_query_count(app) == 2


def test_admin_reset_empties_every_workers_statistics(
    app: Flask, client: FlaskClient, auth: Auth, monitoring: Monitoring
) -> None:
    store_slow_queries(app, 2)
    auth.login(OperatorRole.ADMIN)
    page = client.get("/admin/dashboard/").get_data(as_text=True)
    assert "Reset statistics" in page
    token = re.search(r'id="dashboard-reset".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    response = client.post("/admin/dashboard/reset", data={"csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200
    assert "Pool counters, history and slow queries of every worker were reset." in response.get_data(as_text=True)
    assert slow_query_count(app) == 0
    assert this_worker(client.get("/admin/dashboard/data.json").get_json())["pool"]["pool_timeouts"] == 0


def test_sqlite_dashboard_explains_the_postgresql_panels(client: FlaskClient, auth: Auth, database_url: str) -> None:
    if is_postgres(database_url):
        pytest.skip("the SQLite variant of the page")
    auth.login(OperatorRole.VIEWER)
    data = client.get("/admin/dashboard/data.json").get_json()
    assert (data["database"], data["statements"], data["activity"], data["tables"]) == ("sqlite", None, None, None)
    html = client.get("/admin/dashboard/").get_data(as_text=True)
    assert "are PostgreSQL panels" in html and "Connection pools" in html
    assert data["database_figures"] is None


@pytest.mark.parametrize(
    "path", ["plan?fingerprint=00000000000000aa", "indexes", "statements", "backend/1", "analyze", "backend/1/signal"]
)
def test_on_sqlite_the_postgresql_pages_say_so(client: FlaskClient, auth: Auth, database_url: str, path: str) -> None:
    if is_postgres(database_url):
        pytest.skip("the SQLite variant of the pages")
    auth.login(OperatorRole.ADMIN)
    url = f"/admin/dashboard/{path}"
    if path in ("analyze", "backend/1/signal"):
        response = client.post(url, data={"csrf_token": auth.csrf_token("/admin/dashboard/"), "statement": "SELECT 1"})
    else:
        response = client.get(url)
    assert response.status_code == 404
    assert "need PostgreSQL" in response.get_data(as_text=True)


def test_a_finding_names_the_threshold_it_crossed_as_configured(app: Flask, make_app: conftest.AppFactory) -> None:
    strict = make_app(FINDING_POOL_USAGE_PERCENT="1")
    auth = Auth(strict, strict.test_client())
    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    [finding] = [finding for finding in data["findings"] if "pooled connections are in use" in finding["message"]]
    assert finding["threshold"] == "FINDING_POOL_USAGE_PERCENT=1"
    page = auth.client.get("/admin/dashboard/").get_data(as_text=True)
    assert "threshold: FINDING_POOL_USAGE_PERCENT=1" in page
