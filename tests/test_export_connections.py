"""A streamed export hands its database connection back when the stream ends.

No app context is pushed around the requests here, as in a real server: each request (and the
stream, which runs after the view returned) gets its own session.
"""

from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import text_of
from tests.conftest import Auth
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
