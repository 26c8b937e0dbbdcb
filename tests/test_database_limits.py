"""Every transaction of a web request runs under a statement and a lock timeout (PostgreSQL).

A request that hits one answers the 503 page naming what timed out, instead of waiting until
gunicorn kills the worker. The export, the dashboard and CLI commands have limits of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import click
import psycopg2
import pytest
from flask import Flask
from sqlalchemy import event, text

from tests import conftest, factories
from tests.admin_support import recorded_statements, text_of
from tests.conftest import AppFactory, Auth
from tests.e2e.stack import libpq_url
from tests.pgbouncer import running_pgbouncer
from webapp.admin.listing import export
from webapp.config import load_config
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import report

SHOW_LIMITS = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
# Long enough that the code before the fix, which waited for the lock, fails instead of hanging.
HOLDER_GIVES_UP = "30s"


def limits_in_effect(connection: Any) -> tuple[str, str]:
    statement, lock = connection.execute(text(SHOW_LIMITS)).one()
    return statement, lock


@contextmanager
def table_locked(database_url: str, table: str) -> Iterator[None]:
    """``LOCK TABLE … IN ACCESS EXCLUSIVE MODE`` held by another session, as a migration does."""
    with closing(psycopg2.connect(libpq_url(database_url))) as holder, holder.cursor() as cursor:
        cursor.execute(f"SET idle_in_transaction_session_timeout = '{HOLDER_GIVES_UP}'")
        cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.rollback()


def signed_in(app: Flask, role: OperatorRole = OperatorRole.EDITOR) -> Auth:
    auth = Auth(app, app.test_client())
    auth.login(role)
    return auth


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_locked_table_answers_the_503_page_naming_the_lock(make_app: AppFactory, database_url: str) -> None:
    auth = signed_in(make_app(DB_LOCK_TIMEOUT="0.2"))
    with table_locked(database_url, "tasks"):
        response = auth.client.get("/admin/task/")
        json_response = auth.client.get("/admin/task/", headers={"Accept": "application/json"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    page = text_of(response)
    assert "Temporarily unavailable" in page and "locked" in page
    assert "LockNotAvailable" not in page and "psycopg2" not in page
    assert json_response.status_code == 503 and "locked" in json_response.get_json()["detail"]
    assert auth.client.get("/admin/task/").status_code == 200  # the lock is gone: served again


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_through_pgbouncer_in_transaction_mode_the_limits_hold_and_stay_in_their_transaction(
    make_app: AppFactory, database_url: str, pgbouncer: str
) -> None:
    app = make_app(database_url=pgbouncer, DB_STATEMENT_TIMEOUT="3", DB_LOCK_TIMEOUT="0.2")

    @app.route("/limits")
    def limits() -> str:
        return " ".join(limits_in_effect(db.session))

    client = app.test_client()
    assert text_of(client.get("/limits")) == "3s 200ms"
    # The next client of the one server connection gets the server's defaults, not ours.
    with closing(psycopg2.connect(libpq_url(pgbouncer))) as other, other.cursor() as cursor:
        cursor.execute(SHOW_LIMITS)
        assert cursor.fetchone() == ("0", "0")
        other.rollback()  # hand the server connection back for the app's next transaction
    auth = signed_in(app)
    with table_locked(database_url, "tasks"):
        response = auth.client.get("/admin/task/")
    assert response.status_code == 503 and "locked" in text_of(response)


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_statement_running_too_long_answers_the_503_page_saying_so(make_app: AppFactory) -> None:
    app = make_app(DB_STATEMENT_TIMEOUT="0.2")

    @app.route("/slow")
    def slow() -> str:
        db.session.execute(text("SELECT pg_sleep(20)"))
        return "finished"

    response = app.test_client().get("/slow")
    assert response.status_code == 503
    assert "The database took too long" in text_of(response)


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_save_stopped_by_a_lock_says_so_and_saves_nothing(make_app: AppFactory, database_url: str) -> None:
    app = make_app(DB_LOCK_TIMEOUT="0.2")
    auth = signed_in(app)
    token = auth.csrf_token("/admin/tag/new/")
    # The tag's own INSERT goes through; its audit entry's waits, and the save is refused whole.
    with table_locked(database_url, "audit_entries"):
        response = auth.client.post("/admin/tag/new/", data={"name": "blocked", "csrf_token": token})
    assert response.status_code == 200
    assert "Nothing was saved" in text_of(response) and "locked" in text_of(response)
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM tags")) == 0


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_requests_the_export_and_the_dashboard_each_run_under_their_own_limits(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(DB_STATEMENT_TIMEOUT="3", DB_LOCK_TIMEOUT="2", DB_EXPORT_STATEMENT_TIMEOUT="9")
    seen: dict[str, tuple[str, str]] = {}

    @app.route("/limits")
    def limits() -> str:
        seen["request"] = limits_in_effect(db.session)
        return "ok"

    chunks = export.CopyPlan.chunks  # PostgreSQL's export

    def recording_chunks(plan: Any, session: Any, query: Any) -> Iterator[bytes]:
        seen["export"] = limits_in_effect(session)
        return chunks(plan, session, query)

    table_report = report.table_report

    def recording_table_report(connection: Any) -> Any:
        seen["dashboard"] = limits_in_effect(connection)
        return table_report(connection)

    monkeypatch.setattr(export.CopyPlan, "chunks", recording_chunks)
    monkeypatch.setattr(report, "table_report", recording_table_report)
    with app.app_context():
        factories.make_task()
    auth = signed_in(app)
    assert auth.client.get("/limits").status_code == 200
    assert text_of(auth.client.get("/admin/task/export/csv/")).count("\n") == 2  # header and task
    assert auth.client.get("/admin/dashboard/data.json").status_code == 200
    assert seen == {"request": ("3s", "2s"), "export": ("9s", "2s"), "dashboard": ("2s", "2s")}
    lower = make_app(DB_STATEMENT_TIMEOUT="1.5", DB_LOCK_TIMEOUT="0")
    monkeypatch.setattr(report, "table_report", recording_table_report)
    assert signed_in(lower).client.get("/admin/dashboard/data.json").status_code == 200
    assert seen["dashboard"] == ("1500ms", "2s")  # capped, never above the web limit


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_cli_commands_run_without_the_web_limits(make_app: AppFactory) -> None:
    app = make_app(DB_STATEMENT_TIMEOUT="3", DB_LOCK_TIMEOUT="2")

    @app.cli.command("show-limits")
    def show_limits() -> None:
        click.echo(" ".join(limits_in_effect(db.session)))

    with app.app_context(), db.engine.connect() as connection:
        server_defaults = " ".join(limits_in_effect(connection))
    result = app.test_cli_runner().invoke(args=["show-limits"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == server_defaults


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_web_statements_run_without_parallel_workers_and_cli_commands_with_the_servers(make_app: AppFactory) -> None:
    app = make_app()
    show = text("SELECT current_setting('max_parallel_workers_per_gather')")
    seen: dict[str, str] = {}

    @app.route("/parallel")
    def parallel() -> str:
        seen["request"] = db.session.scalar(show)
        return "ok"

    @app.cli.command("show-parallel")
    def show_parallel() -> None:
        click.echo(db.session.scalar(show))

    with app.app_context(), db.engine.connect() as connection:
        server_default = connection.scalar(show)
    assert signed_in(app).client.get("/parallel").status_code == 200
    assert seen == {"request": "0"} and server_default != "0"
    assert app.test_cli_runner().invoke(args=["show-parallel"]).output.strip() == server_default


@pytest.mark.usefixtures("app_context")
def test_on_sqlite_no_limit_is_sent(app: Flask, auth: Auth) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL gets the limits")
    auth.login()
    with recorded_statements() as statements:
        assert auth.client.get("/admin/task/").status_code == 200
    assert statements and not any("set_config" in statement for statement in statements)


def recording_app(make_app: AppFactory, database_url: str, sent: list[str], **env: str) -> Flask:
    """An app whose psycopg2 cursors write down every statement they send to the server."""

    class RecordingCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> Any:
            sent.append(query.decode() if isinstance(query, bytes) else str(query))
            return super().execute(query, vars)

    options = load_config(conftest.test_env(database_url, **env))["SQLALCHEMY_ENGINE_OPTIONS"]
    connect_args = {**options["connect_args"], "cursor_factory": RecordingCursor}
    return make_app({"SQLALCHEMY_ENGINE_OPTIONS": {**options, "connect_args": connect_args}}, **env)


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_request_sends_its_limits_once_and_no_separate_ping(make_app: AppFactory, database_url: str) -> None:
    sent: list[str] = []
    auth = signed_in(recording_app(make_app, database_url, sent, DB_STATEMENT_TIMEOUT="3"))
    assert auth.client.get("/admin/task/").status_code == 200
    sent.clear()
    assert auth.client.get("/admin/task/").status_code == 200  # on a pooled connection now
    assert [statement for statement in sent if "set_config" in statement][:1] == sent[:1], sent
    assert sum("set_config" in statement for statement in sent) == 1, sent
    assert "SELECT 1" not in sent, sent


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_pooled_connection_the_server_dropped_is_replaced_unseen(make_app: AppFactory, database_url: str) -> None:
    app = make_app(DB_POOL_SIZE="2", DB_MAX_OVERFLOW="0", DB_STATEMENT_TIMEOUT="3")

    @app.route("/backend")
    def backend() -> str:
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        return f"{pid} {' '.join(limits_in_effect(db.session))}"

    client = app.test_client()
    first_pid, *limits = text_of(client.get("/backend")).split()
    assert limits[0] == "3s"
    with closing(psycopg2.connect(libpq_url(database_url))) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (int(first_pid),))
        other.commit()
    response = client.get("/backend")
    assert response.status_code == 200, text_of(response)
    second_pid, statement_timeout, _lock = text_of(response).split()
    assert second_pid != first_pid and statement_timeout == "3s"


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_full_pgbouncer_answers_503_after_one_wait_without_a_second_connection(
    make_app: AppFactory, database_url: str, tmp_path: Path
) -> None:
    """PgBouncer ends a client whose transaction waited query_wait_timeout for a server
    connection. That is the pooler being full, not a connection the server ended long ago: the
    request answers 503 then, instead of opening a new connection to wait as long again."""
    with running_pgbouncer(database_url, tmp_path, query_wait_timeout=1) as pooled:
        app = make_app(database_url=pooled, DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0")

        @app.route("/backend")
        def backend() -> str:
            return str(db.session.scalar(text("SELECT pg_backend_pid()")))

        client = app.test_client()
        assert client.get("/backend").status_code == 200  # the pool now holds its one connection
        with app.app_context():
            opened: list[object] = []
            event.listen(db.engine, "connect", lambda *_: opened.append(True))
        with closing(psycopg2.connect(libpq_url(pooled))) as holder, holder.cursor() as cursor:
            cursor.execute("SELECT 1")  # its open transaction takes PgBouncer's one server connection
            response = client.get("/backend")
        assert response.status_code == 503, text_of(response)
        assert "Temporarily unavailable" in text_of(response)
        assert opened == [], "no second connection waited in the queue"
        assert client.get("/backend").status_code == 200, "served again once the pooler has room"
