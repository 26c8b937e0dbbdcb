"""Reads on a real streaming replica (``DATABASE_REPLICA_URL``), against a primary and a replica of
their own (tests/replica.py). What a page read can be told apart by: with the replica's replay
paused, a record written on the primary is on the primary alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from tests import factories
from tests.admin_support import post_form, text_of
from tests.conftest import AppFactory, Auth, close_app
from tests.conftest import test_env as app_env
from tests.replica import StreamingPair, streaming_pair
from tests.waits import wait_for
from webapp import create_app
from webapp.database import utcnow
from webapp.extensions import db
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.store import save_slow_queries, save_worker

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    with streaming_pair() as started:
        yield started


@pytest.fixture(scope="module")
def migrated(pair: StreamingPair) -> StreamingPair:
    """The schema on the primary, and on the replica once it has replayed it."""
    pair.primary.scalar("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    app = create_app(env=app_env(pair.primary.url))
    try:
        with app.app_context():
            upgrade()
    finally:
        close_app(app)
    wait_for(lambda: pair.replica_has("SELECT to_regclass('tasks') IS NOT NULL"), 60, "the schema on the replica")
    return pair


@pytest.fixture
def replayed(migrated: StreamingPair) -> Iterator[StreamingPair]:
    """The pair with replay running, and running again afterwards (a test may pause it)."""
    yield migrated
    migrated.resume_replay()


def replica_app(make_app: AppFactory, pair: StreamingPair, **env: str) -> Flask:
    settings = {"REPLICA_MAX_LAG_SECONDS": "3600", "READ_YOUR_WRITES_SECONDS": "0", **env}
    return make_app(database_url=pair.primary.url, DATABASE_REPLICA_URL=pair.replica.url, **settings)


def signed_in(app: Flask) -> tuple[FlaskClient, Auth]:
    client = app.test_client()
    auth = Auth(app, client)
    auth.login()
    return client, auth


def task_on_primary(app: Flask, title: str) -> int:
    with app.app_context():
        return factories.make_task(title=title).id


def user_on_primary(app: Flask) -> int:
    with app.app_context():
        return factories.make_user().id


def caught_up(pair: StreamingPair, task_id: int) -> None:
    wait_for(lambda: pair.replica_has(f"SELECT count(*) FROM tasks WHERE id = {task_id}"), 60, "the replica")


def list_page(client: FlaskClient) -> str:
    response = client.get("/admin/task/")
    assert response.status_code == 200, response.status_code
    return text_of(response)


def test_a_list_page_reads_the_replica_and_a_form_writes_the_primary(
    make_app: AppFactory, replayed: StreamingPair
) -> None:
    app = replica_app(make_app, replayed)
    client, auth = signed_in(app)
    caught_up(replayed, task_on_primary(app, "Replicated"))
    replayed.pause_replay()
    task_on_primary(app, "Only on the primary")
    page = list_page(client)
    assert "Replicated" in page and "Only on the primary" not in page
    data = {"title": "Written by the form", "owner": user_on_primary(app), "status": "active", "priority": "low"}
    assert post_form(client, auth, "/admin/task/new/", data).status_code == 302  # the replica is read-only
    replayed.resume_replay()
    wait_for(lambda: "Written by the form" in list_page(client), 60, "the replica to replay the form's task")


def test_the_operators_own_write_is_read_back_from_the_primary(make_app: AppFactory, replayed: StreamingPair) -> None:
    app = replica_app(make_app, replayed, READ_YOUR_WRITES_SECONDS="3600")
    writer, writer_auth = signed_in(app)
    other, _ = signed_in(app)  # signing in is no write to read back
    owner_id = user_on_primary(app)
    caught_up(replayed, task_on_primary(app, "Before"))
    replayed.pause_replay()
    data = {"title": "Mine, just saved", "owner": owner_id, "status": "active", "priority": "low"}
    assert post_form(writer, writer_auth, "/admin/task/new/", data).status_code == 302
    assert "Mine, just saved" in list_page(writer)
    assert "Mine, just saved" not in list_page(other) and "Before" in list_page(other)


def test_a_signed_out_session_ends_although_the_replica_still_holds_it(
    make_app: AppFactory, replayed: StreamingPair
) -> None:
    app = replica_app(make_app, replayed)
    client, auth = signed_in(app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    list_page(client)
    replayed.pause_replay()  # the replica keeps the session row the sign-out deletes
    token = auth.csrf_token("/admin/")
    client.post("/logout", data={"csrf_token": token})
    copy = app.test_client()
    copy.set_cookie("session", cookie.value)
    response = copy.get("/admin/task/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_reads_go_back_to_the_primary_when_the_replica_lags(make_app: AppFactory, replayed: StreamingPair) -> None:
    app = replica_app(make_app, replayed, REPLICA_MAX_LAG_SECONDS="1")
    client, _ = signed_in(app)
    replayed.pause_replay()
    task_on_primary(app, "Written while the replica waits")
    wait_for(lambda: "Written while the replica waits" in list_page(client), 60, "reads on the primary again")
    panel = client.get("/admin/dashboard/data.json").get_json()["replica"]
    assert not panel["in_use"] and panel["lag_seconds"] > 1 and "REPLICA_MAX_LAG_SECONDS" in panel["status"]
    assert "Read replica" in text_of(client.get("/admin/dashboard/"))


def test_a_replica_that_is_down_leaves_the_pages_on_the_primary(make_app: AppFactory, replayed: StreamingPair) -> None:
    app = replica_app(make_app, replayed)
    client, _ = signed_in(app)
    replayed.replica.stop()
    try:
        task_on_primary(app, "Read from the primary")
        assert "Read from the primary" in list_page(client)
        panel = client.get("/admin/dashboard/data.json").get_json()["replica"]
        assert not panel["in_use"] and panel["status"].startswith("not used: unreachable")
    finally:
        replayed.replica.start()


def test_the_dashboard_shows_the_replicas_statements_apart_from_the_primarys(
    make_app: AppFactory, replayed: StreamingPair
) -> None:
    """The list page's reads ran on the replica: its pg_stat_statements has them; the form's
    INSERT ran on the primary: only the primary's panel has it."""
    app = replica_app(make_app, replayed)
    client, auth = signed_in(app)
    for cluster in (replayed.primary, replayed.replica):
        cluster.scalar("SELECT pg_stat_statements_reset()")
    data = {"title": "Counted on the primary", "owner": user_on_primary(app), "status": "active", "priority": "low"}
    assert post_form(client, auth, "/admin/task/new/", data).status_code == 302
    list_page(client)
    report = client.get("/admin/dashboard/data.json").get_json()
    on_replica = [row["query"].lstrip() for row in report["replica_statements"]["statements"]]
    on_primary = [row["query"].lstrip() for row in report["statements"]["statements"]]
    assert any("FROM tasks" in query and query.startswith("SELECT") for query in on_replica)
    assert not any(query.startswith(("INSERT", "UPDATE", "DELETE")) for query in on_replica), on_replica
    assert any(query.startswith(("INSERT", "UPDATE", "DELETE")) for query in on_primary)
    assert "Top statements on the replica" in text_of(client.get("/admin/dashboard/"))


def test_the_export_reads_the_replica(make_app: AppFactory, replayed: StreamingPair) -> None:
    app = replica_app(make_app, replayed)
    client, _ = signed_in(app)
    caught_up(replayed, task_on_primary(app, "Exported from the replica"))
    replayed.pause_replay()
    task_on_primary(app, "Not on the replica yet")
    exported = client.get("/admin/task/export/csv/").get_data(as_text=True)
    assert "Exported from the replica" in exported and "Not on the replica yet" not in exported


def captured_slow_queries(client: FlaskClient) -> list[str]:
    return [row["query"] for row in client.get("/admin/dashboard/data.json").get_json()["slow_queries"]["top"]]


def test_the_dashboards_stored_figures_read_the_replica_and_its_live_state_the_primary(
    make_app: AppFactory, replayed: StreamingPair
) -> None:
    """With replay paused, a slow statement captured and a worker reporting on the primary: the
    captured statements (like the history) are read on the replica, so not yet there; the
    workers' live state is the primary's, there at once."""
    app = replica_app(make_app, replayed)
    client, _ = signed_in(app)
    marker = "SELECT * FROM only_on_the_primary"
    replayed.pause_replay()
    with app.app_context(), db.engine.begin() as connection:
        now = utcnow()
        capture = SlowQuery("0nlyonprimary", marker, 1, 5000.0, 5000.0, 1, now, now, "/admin/task/")
        save_slow_queries(connection, [capture])
        save_worker(connection, "a-host-on-the-primary", 4242, now, now, PoolMonitor().snapshot(db.engine))
    report = client.get("/admin/dashboard/data.json").get_json()
    assert marker not in captured_slow_queries(client)
    assert "a-host-on-the-primary" in {worker["host"] for worker in report["pool"]["workers"]}
    assert report["replica"]["in_use"] and "dashboard" in report["replica"]["status"]
    replayed.resume_replay()
    wait_for(lambda: marker in captured_slow_queries(client), 60, "the replica to replay the capture")
