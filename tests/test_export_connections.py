"""A streamed export hands its database connection back when the stream ends, and streams
through PgBouncer in transaction mode.

No app context is pushed around the requests here, as in a real server: each request (and the
stream, which runs after the view returned) gets its own session.
"""

from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import text_of
from tests.conftest import AppFactory, Auth
from tests.e2e.stack import libpq_url
from tests.monitoring_support import FORGET_STATEMENTS
from tests.pgbouncer import running_pgbouncer
from webapp.admin.listing import copy_export
from webapp.extensions import db


def test_csv_export_gives_its_connection_back_when_the_stream_ends(app: Flask, client: FlaskClient, auth: Auth) -> None:
    with app.app_context():
        for _ in range(3):
            factories.make_task()
    auth.login()
    for _ in range(3):
        response = client.get("/admin/task/export/csv/", buffered=False)
        assert len(text_of(response).splitlines()) == 4
        response.close()
    with app.app_context():
        # Iterating the query in the view's (already closed) session would leave a connection
        # checked out, idle in a transaction and holding locks, until garbage collection.
        assert db.engine.pool.checkedout() == 0


def busy_backends(database_url: str) -> list[tuple]:
    """The other backends of the database that are not idle, and what they run."""
    return direct_query(
        database_url,
        "SELECT state, query FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'",
    )


@pytest.mark.postgres
def test_a_client_that_leaves_mid_copy_stops_it_and_gives_the_connection_back(
    app: Flask, client: FlaskClient, auth: Auth, database_url: str
) -> None:
    with app.app_context():
        # Far more than the COPY's queue holds: it is still running when the client leaves.
        factories.make_many_tasks(copy_export.QUEUED_CHUNKS * copy_export.CHUNK_BYTES // 20, description="x" * 40)
    auth.login()
    with closing(client.get("/admin/task/export/csv/", buffered=False)) as response:
        chunks = iter(response.response)
        assert next(chunks).startswith(b"ID,Title,")
        assert next(chunks).count(b"\r\n") > 100
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
    assert busy_backends(database_url) == [], "the COPY was cancelled, its transaction rolled back"
    response = client.get("/admin/task/export/csv/?search=nothing-matches")
    assert response.get_data() == b"ID,Title,Owner,Status,Priority,Tags,Due,Description,Created\r\n"


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_a_copy_that_gives_no_rows_for_the_export_limit_is_cancelled(
    make_app: AppFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export's limit bounds the wait for each chunk, not the whole COPY (which may run for
    as long as it keeps giving rows): a COPY that stalls is cancelled on the server."""
    stalled = b"COPY (SELECT pg_sleep(60)) TO STDOUT WITH (FORMAT csv)"
    monkeypatch.setattr(copy_export.CopyPlan, "copy_statement", lambda *_arguments, **_options: stalled)
    limited = make_app(DB_EXPORT_STATEMENT_TIMEOUT="0.5")
    auth = Auth(limited, limited.test_client())
    auth.login()
    with closing(auth.client.get("/admin/task/export/csv/", buffered=False)) as response:
        chunks = iter(response.response)
        assert next(chunks).startswith(b"ID,Title,")
        with pytest.raises(copy_export.ExportStalled):
            next(chunks)
    assert busy_backends(database_url) == [], "the stalled COPY was cancelled"


TASKS = 10


def direct_query(database_url: str, sql: str) -> list[tuple]:
    with closing(psycopg2.connect(libpq_url(database_url))) as direct, direct.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
        direct.commit()
        return rows


def open_transactions(database_url: str) -> list[tuple]:
    """The other backends of the database inside a transaction (running a statement or not)."""
    return direct_query(
        database_url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND xact_start IS NOT NULL"
        " AND pid <> pg_backend_pid()",
    )


# The export's one statement: a COPY of the list's query.
EXPORT_COPIES = (
    "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND toplevel AND query ~ '^COPY \\(SELECT .*\\sFROM tasks\\s'"
)


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_the_streamed_export_runs_through_pgbouncer_in_transaction_mode(
    make_app: AppFactory, database_url: str, tmp_path: Path
) -> None:
    """The export's COPY runs inside one transaction (with a savepoint), which PgBouncer keeps on
    one server connection until it ends; other clients' transactions meanwhile run on the pool's
    other connection."""
    direct_query(database_url, FORGET_STATEMENTS)
    with running_pgbouncer(database_url, tmp_path, pool_size=2) as pooled_url:
        pooled = make_app(database_url=pooled_url)
        with pooled.app_context():
            factories.make_many_tasks(TASKS)
        auth = Auth(pooled, pooled.test_client())
        auth.login()
        with closing(auth.client.get("/admin/task/export/csv/", buffered=False)) as response:
            chunks = iter(response.response)
            streamed = [next(chunks), next(chunks)]
            assert len(open_transactions(database_url)) == 1, "mid-stream, the export's transaction stays open"
            with closing(psycopg2.connect(libpq_url(pooled_url))) as other, other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM tasks")
                assert cursor.fetchone() == (TASKS,), "another client is served meanwhile"
            streamed += list(chunks)
        lines = b"".join(part if isinstance(part, bytes) else part.encode() for part in streamed).splitlines()
        assert len(lines) == 1 + TASKS
        assert len(direct_query(database_url, EXPORT_COPIES)) == 1, "one COPY"
        # Nothing outlives the export: two transactions at once hold both server connections.
        clients = [psycopg2.connect(libpq_url(pooled_url)) for _ in range(2)]
        try:
            cursors = [client.cursor() for client in clients]
            for cursor in cursors:
                cursor.execute("SELECT count(*) FROM pg_cursors")
            assert [cursor.fetchone() for cursor in cursors] == [(0,), (0,)]
        finally:
            for client in clients:
                client.close()
