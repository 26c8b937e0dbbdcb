"""The dashboard's PgBouncer panel, read from a real PgBouncer's admin console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from tests.admin_support import Auth
from tests.conftest import AppFactory
from tests.e2e.stack import libpq_url
from tests.pgbouncer import admin_console_url, running_pgbouncer
from tests.waits import wait_for
from webapp.models import OperatorRole

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("app")]  # the session app builds the schema
ADMIN_USER = "pgbouncer"


@pytest.fixture
def pgbouncer_with_console(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """PgBouncer (stopped by its pid afterwards) with one query run through it: (pooled, admin) URLs."""
    with running_pgbouncer(database_url, tmp_path, admin_users=ADMIN_USER) as pooled:
        with closing(psycopg2.connect(libpq_url(pooled))) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            connection.commit()
        yield pooled, admin_console_url(pooled, ADMIN_USER)


def signed_in(make_app: AppFactory, admin_url: str) -> Auth:
    app = make_app(PGBOUNCER_ADMIN_URL=admin_url)
    auth = Auth(app, app.test_client())
    auth.login(OperatorRole.VIEWER)
    return auth


def test_the_dashboard_shows_pgbouncers_pools(make_app: AppFactory, pgbouncer_with_console: tuple[str, str]) -> None:
    pooled, admin_url = pgbouncer_with_console
    auth = signed_in(make_app, admin_url)
    with closing(psycopg2.connect(libpq_url(pooled))) as holder, holder.cursor() as cursor:
        cursor.execute("SELECT 1")  # its transaction stays open: one server connection in use
        html = auth.client.get("/admin/dashboard/").get_data(as_text=True)
        data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert "PgBouncer" in html and "Server connections in use" in html and "Clients waiting" in html
    report = data["pgbouncer"]
    assert report["servers_active"] == 1
    assert report["clients_waiting"] == 0
    [pool] = [pool for pool in report["pools"] if pool["servers_active"]]
    assert pool["user"] == "postgres" and pool["pool_mode"] == "transaction"
    assert pool["avg_wait_ms"] is not None and pool["max_wait_seconds"] >= 0


def test_an_unreachable_pgbouncer_is_said_so_and_the_page_renders(make_app: AppFactory) -> None:
    auth = signed_in(make_app, "postgresql://pgbouncer@127.0.0.1:1/pgbouncer")
    response = auth.client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert "cannot reach PgBouncer&#39;s admin console at 127.0.0.1:1" in response.get_data(as_text=True)
    assert "cannot reach PgBouncer" in auth.client.get("/admin/dashboard/data.json").get_json()["pgbouncer"]["error"]


def test_without_the_variable_there_is_no_panel(make_app: AppFactory) -> None:
    auth = signed_in(make_app, "")
    assert auth.client.get("/admin/dashboard/data.json").get_json()["pgbouncer"] is None


def test_a_client_waiting_for_a_server_connection_shows(
    make_app: AppFactory, pgbouncer_with_console: tuple[str, str]
) -> None:
    """PgBouncer has one server connection: while a transaction holds it, a second client's query
    waits in PgBouncer, and the dashboard counts it; once the first commits, the second runs."""
    pooled, admin_url = pgbouncer_with_console
    auth = signed_in(make_app, admin_url)
    answers: list[int] = []

    def waiting_query() -> None:
        with closing(psycopg2.connect(libpq_url(pooled))) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 2")
            answers.append(cursor.fetchone()[0])
            connection.commit()

    with closing(psycopg2.connect(libpq_url(pooled))) as holder, holder.cursor() as cursor:
        cursor.execute("SELECT 1")  # holds PgBouncer's only server connection until the commit
        waiter = threading.Thread(target=waiting_query)
        waiter.start()
        try:
            report = wait_for(
                lambda: (
                    (now := auth.client.get("/admin/dashboard/data.json").get_json()["pgbouncer"])
                    and now["clients_waiting"] == 1
                    and now
                ),
                timeout=60,
                what="a client waiting in PgBouncer",
            )
            html = auth.client.get("/admin/dashboard/").get_data(as_text=True)
        finally:
            holder.commit()
            waiter.join(timeout=60)
    assert not waiter.is_alive() and answers == [2]
    assert report["servers_active"] == 1
    [pool] = [pool for pool in report["pools"] if pool["clients_waiting"]]
    assert pool["max_wait_seconds"] >= 0
    assert "Clients waiting" in html
