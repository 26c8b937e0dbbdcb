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
from webapp.admin.listing import export
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


# The export's batches, and the tasks that make three of them.
BATCH = 4
TASKS = 10


def direct_query(database_url: str, sql: str) -> list[tuple]:
    with closing(psycopg2.connect(libpq_url(database_url))) as direct, direct.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
        direct.commit()
        return rows


def idle_in_transaction(database_url: str) -> list[tuple]:
    return direct_query(
        database_url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
    )


# The export's rows, read through a named cursor: psycopg2 declares it WITHOUT HOLD unless asked.
EXPORT_CURSORS = (
    "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND query ~ '^DECLARE .* CURSOR WITHOUT HOLD FOR SELECT tasks\\.'"
)


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_the_streamed_export_runs_through_pgbouncer_in_transaction_mode(
    make_app: AppFactory, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export reads with a server-side cursor (``yield_per``: a psycopg2 named cursor, WITHOUT
    HOLD) inside one transaction, which PgBouncer keeps on one server connection until it ends;
    other clients' transactions meanwhile run on the pool's other connection."""
    monkeypatch.setattr(export, "EXPORT_BATCH_SIZE", BATCH)
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
            assert len(idle_in_transaction(database_url)) == 1, "mid-stream, the export's transaction stays open"
            with closing(psycopg2.connect(libpq_url(pooled_url))) as other, other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM tasks")
                assert cursor.fetchone() == (TASKS,), "another client is served meanwhile"
            streamed += list(chunks)
        lines = b"".join(part if isinstance(part, bytes) else part.encode() for part in streamed).splitlines()
        assert len(lines) == 1 + TASKS
        assert len(direct_query(database_url, EXPORT_CURSORS)) == 1, "one server-side cursor, not held"
        # No cursor outlives the export: two transactions at once hold both server connections.
        clients = [psycopg2.connect(libpq_url(pooled_url)) for _ in range(2)]
        try:
            cursors = [client.cursor() for client in clients]
            for cursor in cursors:
                cursor.execute("SELECT count(*) FROM pg_cursors")
            assert [cursor.fetchone() for cursor in cursors] == [(0,), (0,)]
        finally:
            for client in clients:
                client.close()
