"""Error pages: the admin's look, no internals, JSON for JSON clients, 503 when the database is out."""

import logging
import time
from contextlib import closing
from typing import Any

import psycopg2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text

from tests import factories
from tests.admin_support import only_connection_taken, signed_in_on_a_one_connection_pool
from tests.conftest import AppFactory, Auth, csrf_token_from
from tests.e2e.stack import libpq_url
from webapp.extensions import db
from webapp.models import OperatorRole, Task

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"


def test_unknown_page_gets_the_admin_styled_404(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in page
    assert "Operations admin" in page and "bootstrap.min.css" in page
    assert response.headers["X-Request-ID"] in page


def test_json_clients_get_json_errors(client: FlaskClient) -> None:
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "Page not found",
        "status": 404,
        "request_id": response.headers["X-Request-ID"],
        "detail": "There is nothing at this address. It may have been moved or deleted.",
    }


def test_viewer_on_a_write_page_gets_the_403_page(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    response = client.get("/admin/user/new/")
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_unhandled_exception_shows_no_internals_but_logs_them(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(config={"PROPAGATE_EXCEPTIONS": False})

    @app.route("/explode")
    def explode() -> str:
        raise RuntimeError("SELECT secret FROM vault")

    logging.getLogger("webapp").addHandler(caplog.handler)
    try:
        response = app.test_client().get("/explode")
    finally:
        logging.getLogger("webapp").removeHandler(caplog.handler)
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "SELECT secret" not in page and "Traceback" not in page and "RuntimeError" not in page
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 1 and "SELECT secret FROM vault" in str(logged[0].exc_info[1])
    assert logged[0].request_id == response.headers["X-Request-ID"]


def test_sign_in_with_the_database_down_gets_503_not_a_traceback(make_app: AppFactory) -> None:
    client = make_app(database_url=UNREACHABLE_DATABASE).test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "a@example.org", "password": "x" * 12, "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "Temporarily unavailable" in page and "The database cannot be reached right now." in page
    assert "psycopg2" not in page and "127.0.0.1" not in page and "Traceback" not in page


def test_json_client_with_the_database_down_gets_a_json_503(make_app: AppFactory) -> None:
    client = make_app(database_url=UNREACHABLE_DATABASE).test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": "a@example.org", "password": "x" * 12, "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "Temporarily unavailable"


@pytest.mark.postgres
def test_exhausted_pool_gives_503_within_the_pool_timeout_then_recovers(make_app: AppFactory, app: Flask) -> None:
    auth = signed_in_on_a_one_connection_pool(make_app)
    with only_connection_taken(auth.app):
        started = time.monotonic()
        response = auth.client.get("/admin/user/")
        waited = time.monotonic() - started
    with auth.app.app_context():
        db.engine.dispose()
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Every database connection is in use" in page and "cannot be reached" not in page
    # It waited for the pool, and did not hang: far below gunicorn's 30 s, however busy the machine.
    assert 1 <= waited < 20
    assert auth.client.get("/admin/user/").status_code == 200


@pytest.mark.postgres
@pytest.mark.usefixtures("app")  # the schema migrated: /readyz is ready only then, whichever test ran first
def test_connection_dropped_after_the_response_neither_fails_the_request_nor_leaks_it(
    database_url: str, make_app: AppFactory
) -> None:
    app = make_app(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="1")

    @app.route("/served-then-dropped")
    def served_then_dropped() -> str:
        # The response is ready, the session's transaction is still open: then the server goes.
        backend = db.session.scalar(text("SELECT pg_backend_pid()"))
        with closing(psycopg2.connect(libpq_url(database_url))) as other, other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (backend,))
        return "served"

    client = app.test_client()
    assert client.get("/served-then-dropped").get_data(as_text=True) == "served"
    # The single pooled connection came back: the next request gets a fresh one, not a 503.
    assert client.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_a_save_whose_connection_is_lost_mid_way_gets_503_not_the_form_again(
    app: Flask, database_url: str, make_app: AppFactory
) -> None:
    """The server drops the request's connection just before its INSERT (a PostgreSQL restart, a
    pooler losing its server): the answer is the 503 page, and nothing was saved. Re-rendering
    the form would need the database again, which through PgBouncer failed as a 500."""
    served = make_app()
    auth = Auth(served, served.test_client())
    auth.login()
    with served.app_context():
        owner = factories.make_user().id
        engine = db.engine
    dropped: list[int] = []

    def drop_the_connection(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if dropped or not statement.startswith("INSERT INTO tasks"):
            return
        cursor.execute("SELECT pg_backend_pid()")
        dropped.append(cursor.fetchone()[0])
        with closing(psycopg2.connect(libpq_url(database_url))) as other, other.cursor() as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (dropped[0],))

    event.listen(engine, "before_cursor_execute", drop_the_connection)
    try:
        form = {"title": "Lost", "owner": owner, "status": "active", "priority": "low"}
        token = auth.csrf_token("/admin/task/new/")
        response = auth.client.post("/admin/task/new/", data={**form, "csrf_token": token})
    finally:
        event.remove(engine, "before_cursor_execute", drop_the_connection)
    assert dropped, "the INSERT was reached"
    assert response.status_code == 503, response.get_data(as_text=True)[-800:]
    assert "Temporarily unavailable" in response.get_data(as_text=True)
    with served.app_context():
        assert db.session.scalar(select(func.count()).select_from(Task).where(Task.title == "Lost")) == 0
    assert auth.client.get("/admin/task/").status_code == 200
