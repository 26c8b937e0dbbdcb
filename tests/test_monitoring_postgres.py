"""The PostgreSQL panels against a real server: pg_stat_statements present and absent, activity,
table and index health."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests import conftest
from tests.admin_support import table_missing
from tests.conftest import Auth
from tests.waits import wait_for
from webapp import create_app
from webapp.config import normalize_database_url
from webapp.database_limits import DASHBOARD_CAP_SECONDS
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole
from webapp.monitoring import pg_statements
from webapp.monitoring.pg_activity import ActivityReport, activity_report
from webapp.monitoring.pg_statements import statements_report
from webapp.monitoring.table_stats import table_report

pytestmark = pytest.mark.postgres


def test_top_statements_come_from_pg_stat_statements(
    app: Flask, client: FlaskClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other tests' statements share the server's statistics: however they rank, this one is shown.
    monkeypatch.setattr(pg_statements, "TOP_PER_RANKING", 100_000)
    with app.app_context():
        for n in range(25):
            db.session.execute(text("SELECT count(*) FROM tasks WHERE title = :title"), {"title": f"t{n}"})
        db.session.commit()
    auth.login(OperatorRole.VIEWER)
    statements = client.get("/admin/dashboard/data.json").get_json()["statements"]
    assert statements["available"] is True and statements["how_to_enable"] is None
    # Another test on this worker's database may have counted the tasks without a condition.
    [counted] = [row for row in statements["statements"] if row["query"].startswith("SELECT count(*) FROM tasks WHERE")]
    assert counted["query"] == "SELECT count(*) FROM tasks WHERE title = $1"
    assert counted["calls"] >= 25
    assert counted["total_ms"] >= counted["mean_ms"] > 0
    assert counted["hit_ratio"] is None or 0 <= counted["hit_ratio"] <= 1


def test_statement_texts_are_read_from_the_server_only_for_statements_not_shown_before(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the view's texts reads every tracked statement's text of the whole cluster."""
    monkeypatch.setattr(pg_statements, "TOP_PER_RANKING", 100_000)
    read_texts_of: list[str] = []

    def texts_read(connection, cursor, statement: str, parameters: dict, *args: object) -> None:
        if statement == texts:
            read_texts_of.append(parameters["ids"])

    with app.app_context():
        texts = str(pg_statements.TEXTS.compile(dialect=db.engine.dialect))
        event.listen(db.engine, "before_cursor_execute", texts_read)
        try:
            # The report's own statements are new to the server the first time or two. Each in
            # a transaction of its own, as a request's: savepoint names count up per transaction.
            for _ in range(3):
                read_texts_of.clear()
                statements_report(db.session.connection())
                db.session.rollback()
            assert read_texts_of == [], "every statement shown has been read before"
            db.session.execute(text("SELECT count(*) AS texts_read_once FROM tags WHERE name = 'a name'"))
            [new] = db.session.execute(
                text(
                    "SELECT DISTINCT s.queryid FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                    "WHERE d.datname = current_database() AND s.query LIKE '%AS texts_read_once FROM%'"
                )
            ).scalars()
            report = statements_report(db.session.connection())
        finally:
            event.remove(db.engine, "before_cursor_execute", texts_read)
    [read] = read_texts_of
    # Its text, and the one of the statement that looked its queryid up: nothing shown before.
    assert str(new) in read.strip("{}").split(",") and read.count(",") <= 1
    [shown] = [statement for statement in report.statements if statement.queryid == new]
    assert shown.query == "SELECT count(*) AS texts_read_once FROM tags WHERE name = $1"


def test_admin_reset_also_resets_pg_stat_statements_of_this_database_only(
    app: Flask, client: FlaskClient, auth: Auth, database_url: str
) -> None:
    with app.app_context():
        db.session.execute(text("SELECT 'before the reset', count(*) FROM tags"))
        db.session.commit()
    server = create_engine(make_url(normalize_database_url(database_url)).set(database="postgres"))
    neighbour = "SELECT 1 AS another_database_keeps_its_statistics"
    with server.connect() as connection:
        connection.execute(text(neighbour))
    auth.login(OperatorRole.ADMIN)
    token = auth.csrf_token("/admin/tag/new/")
    page = client.post("/admin/dashboard/reset", data={"csrf_token": token}, follow_redirects=True)
    assert "pg_stat_statements was reset for this database." in page.get_data(as_text=True)
    with app.app_context():
        report = statements_report(db.session.connection())
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.model == "Statistics"))
    assert not [row for row in report.statements if "FROM tags" in row.query]
    assert entry is not None and entry.summary.startswith("Reset the dashboard statistics")
    server.dispose()
    with app.app_context():
        kept = db.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = 'postgres' AND s.query LIKE '%another_database_keeps%'"
            )
        )
    assert kept >= 1


def test_search_terms_never_reach_the_dashboard_from_pg_stat_statements(
    app: Flask, client: FlaskClient, auth: Auth, make_app: conftest.AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list count's EXPLAIN is a utility statement, which pg_stat_statements keeps with its literals."""
    term = "lovelacesearchterm"
    monkeypatch.setattr(pg_statements, "TOP_PER_RANKING", 100_000)  # shown however it ranks
    auth.login(OperatorRole.VIEWER)
    assert client.get(f"/admin/task/?search={term}").status_code == 200
    with app.app_context():
        stored = db.session.scalar(
            text("SELECT count(*) FROM pg_stat_statements WHERE query LIKE :term"), {"term": f"%{term}%"}
        )
    assert stored >= 1, "the server kept the term: the test shows what the dashboard makes of it"

    data = client.get("/admin/dashboard/data.json")
    page = client.get("/admin/dashboard/")
    metrics = (
        make_app(METRICS_TOKEN="a-long-scrape-token-for-tests")
        .test_client()
        .get("/metrics", headers={"Authorization": "Bearer a-long-scrape-token-for-tests"})
    )
    assert (data.status_code, page.status_code, metrics.status_code) == (200, 200, 200)
    for response in (data, page, metrics):
        assert term not in response.get_data(as_text=True)
    explained = [
        row["query"] for row in data.get_json()["statements"]["statements"] if row["query"].startswith("EXPLAIN")
    ]
    assert explained and all("ILIKE $" in query for query in explained)


def test_after_a_panel_fails_the_next_ones_still_run_under_the_dashboards_time_limit(
    app: Flask, client: FlaskClient, auth: Auth
) -> None:
    """A failed panel rolls the request's transaction back; the next one begins a new transaction,
    which must get the dashboard's statement timeout again."""
    timeouts: list[str] = []

    def timeout_before_table_health(connection, cursor, statement: str, *args: object) -> None:
        if "FROM pg_stat_user_tables" in statement and not timeouts:
            with cursor.connection.cursor() as probe:
                probe.execute("SHOW statement_timeout")
                timeouts.append(probe.fetchone()[0])

    auth.login(OperatorRole.VIEWER)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", timeout_before_table_health)
    try:
        with table_missing(app, "monitoring_workers"):
            data = client.get("/admin/dashboard/data.json").get_json()
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", timeout_before_table_health)
    assert "monitoring_workers" in data["pool"]["error"], "the first panel failed"
    assert data["tables"]["tables"] and "error" not in data["slow_queries"]
    assert timeouts == [f"{DASHBOARD_CAP_SECONDS:.0f}s"]


@contextlib.contextmanager
def connection_ended_by_the_server(app: Flask, database_url: str, when: str) -> Iterator[list[int]]:
    """The server ends the app's connection that is about to run a statement containing ``when``
    (once); yields the pid of the backend it ended."""
    killer = create_engine(normalize_database_url(database_url), poolclass=NullPool)
    killed: list[int] = []

    def terminate_this_connection(connection, cursor, statement: str, *args: object) -> None:
        if when in statement and not killed:
            killed.append(cursor.connection.get_backend_pid())
            with killer.connect() as other:
                # Waits (up to 30 s) until the backend is gone.
                assert other.scalar(text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": killed[0]})

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", terminate_this_connection)
    try:
        yield killed
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", terminate_this_connection)
        killer.dispose()


def test_a_connection_lost_mid_report_fails_only_the_panel_it_was_reading(
    app: Flask, client: FlaskClient, auth: Auth, database_url: str
) -> None:
    auth.login(OperatorRole.VIEWER)
    with connection_ended_by_the_server(app, database_url, when="max_connections") as killed:
        response = client.get("/admin/dashboard/data.json")
    assert killed and response.status_code == 200
    data = response.get_json()
    assert data["activity"]["error"]
    for panel in ("pool", "history", "slow_queries", "statements", "tables"):
        assert "error" not in data[panel], panel
    assert data["statements"]["available"] is True and data["tables"]["tables"]
    assert client.get("/admin/dashboard/").status_code == 200, "the next request finds a working pool"


def test_once_no_new_connection_can_be_had_the_remaining_panels_say_so_at_once(
    app: Flask, client: FlaskClient, auth: Auth, database_url: str
) -> None:
    attempts: list[object] = []

    def server_unreachable(*args: object) -> None:
        attempts.append(args)
        raise psycopg2.OperationalError("could not connect to server: Connection refused")

    auth.login(OperatorRole.VIEWER)
    with connection_ended_by_the_server(app, database_url, when="max_connections") as killed:
        with app.app_context():
            event.listen(db.engine, "do_connect", server_unreachable)
        try:
            response = client.get("/admin/dashboard/data.json")
        finally:
            with app.app_context():
                event.remove(db.engine, "do_connect", server_unreachable)
    assert killed and response.status_code == 200
    data = response.get_json()
    assert "error" not in data["pool"] and data["activity"]["error"]
    for panel in ("history", "slow_queries", "statements", "tables"):
        assert "could not connect" in data[panel]["error"], panel
    assert len(attempts) == 1, "one attempt to reconnect, not one per panel"


@pytest.fixture
def app_without_pg_stat_statements(app: Flask, database_url: str) -> Iterator[Flask]:
    """The app on a second database where the extension was never created."""
    url = make_url(normalize_database_url(database_url))
    name = f"{url.database}_no_pgss"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    bare = create_app(env=conftest.test_env(url.set(database=name).render_as_string(hide_password=False)))
    with bare.app_context():
        upgrade()
    yield bare
    conftest.close_app(bare)
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def test_without_pg_stat_statements_the_panel_says_how_to_enable_it(app_without_pg_stat_statements: Flask) -> None:
    client = app_without_pg_stat_statements.test_client()
    Auth(app_without_pg_stat_statements, client).login(OperatorRole.VIEWER)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "pg_stat_statements is not enabled." in html
    assert "CREATE EXTENSION pg_stat_statements;" in html
    statements = client.get("/admin/dashboard/data.json").get_json()["statements"]
    assert (statements["available"], statements["statements"]) == (False, [])


# Longer than track_activity_query_size (1 kB by default): pg_stat_activity cuts the text inside it.
CUT_LITERAL = "ada.lovelace@example.org " * 60


def test_long_running_statement_is_listed_without_literals_even_when_cut(app: Flask) -> None:
    sleeper_pids: list[int] = []

    def sleep_in_another_session() -> None:
        with app.app_context(), db.engine.connect() as connection:
            sleeper_pids.append(connection.scalar(text("SELECT pg_backend_pid()")))
            with contextlib.suppress(OperationalError):  # cancelled by the test once it was listed
                connection.execute(text(f"SELECT pg_sleep(60), 'private@example.org', '{CUT_LITERAL}'"))

    def report_listing_the_sleep() -> ActivityReport | None:
        with app.app_context():
            report = activity_report(db.session.connection(), long_running_after=0.3)
            db.session.rollback()
        return report if any("pg_sleep" in query.query for query in report.long_running) else None

    sleeper = threading.Thread(target=sleep_in_another_session)
    sleeper.start()
    try:
        report = wait_for(report_listing_the_sleep, 30, "the sleeping statement to be listed")
        with app.app_context():
            max_connections = db.session.scalar(text("SELECT current_setting('max_connections')::int"))
    finally:
        wait_for(lambda: sleeper_pids, 30, "the sleeper to connect")
        with app.app_context(), db.engine.connect() as connection:
            connection.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": sleeper_pids[0]})
        sleeper.join(30)
    [running] = [query for query in report.long_running if "pg_sleep" in query.query]
    assert running.query == "SELECT pg_sleep($1), $2, …"
    assert running.state == "active" and running.seconds >= 0.3
    assert report.max_connections == max_connections
    assert report.connections == sum(state.connections for state in report.by_state) >= 2
    assert report.usage_ratio == report.connections / max_connections


def test_table_health_lists_tables_and_indexes_never_used(app: Flask) -> None:
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (id serial PRIMARY KEY, code text UNIQUE, note text)"))
        db.session.execute(text("CREATE INDEX ix_probe_note ON probe (note)"))
        db.session.execute(text("INSERT INTO probe (code, note) SELECT g::text, 'n' FROM generate_series(1, 50) g"))
        db.session.commit()
        try:
            report = table_report(db.session.connection())
        finally:
            db.session.rollback()
            db.session.execute(text("DROP TABLE probe"))
            db.session.commit()
    tables = {table.name: table for table in report.tables}
    assert {"tasks", "users", "probe", "monitoring_slow_queries"} <= set(tables)
    assert tables["probe"].size_bytes > 0
    unused = {index.name for index in report.unused_indexes}
    assert "ix_probe_note" in unused
    assert not {"probe_pkey", "probe_code_key"} & unused, "unique indexes enforce constraints"


def test_dashboard_shows_every_postgresql_panel(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    html = client.get("/admin/dashboard/").get_data(as_text=True)
    for heading in (
        "PostgreSQL server",
        "Connections by state",
        "Top statements on the server",
        "Table health",
        "Indexes never used",
    ):
        assert heading in html
    assert "are PostgreSQL panels" not in html
