"""Every connection the app opens names itself (``application_name``), directly and through PgBouncer."""

from __future__ import annotations

import os
import socket

import pytest
from flask import Flask
from sqlalchemy import text

from tests.conftest import AppFactory
from webapp.extensions import db
from webapp.monitoring.connection_names import MAX_BYTES, application_name

pytestmark = pytest.mark.postgres

OWN_NAME = "SELECT current_setting('application_name')"


def name_seen_by_server(app: Flask) -> str:
    with app.app_context():
        return db.session.scalar(text(OWN_NAME))


def test_the_app_connections_carry_host_and_pid(app: Flask) -> None:
    assert name_seen_by_server(app) == f"webapp {socket.gethostname()}:{os.getpid()}"


def test_the_publishers_connection_says_it_is_the_monitoring_one(app: Flask) -> None:
    publisher = app.extensions["monitoring"].publisher
    with publisher.engine().connect() as connection:
        assert connection.scalar(text(OWN_NAME)) == f"webapp {socket.gethostname()}:{os.getpid()} monitoring"
    publisher.dispose()


def test_the_dashboard_can_tell_the_apps_backends_apart(app: Flask) -> None:
    with app.app_context():
        names = db.session.scalars(
            text("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        ).all()
    assert names == [application_name(socket.gethostname())]


def test_a_long_host_name_is_cut_to_what_postgresql_keeps() -> None:
    assert len(application_name("h" * 100, "monitoring").encode()) == MAX_BYTES


@pytest.mark.usefixtures("app")
def test_through_pgbouncer_the_name_reaches_the_server(make_app: AppFactory, pgbouncer: str) -> None:
    pooled = make_app(database_url=pgbouncer)
    assert name_seen_by_server(pooled) == application_name(socket.gethostname())


def test_app_host_names_the_host_of_every_connection_and_of_the_dashboards_workers(make_app: AppFactory) -> None:
    labelled = make_app(APP_HOST="host-a")
    assert name_seen_by_server(labelled) == f"webapp host-a:{os.getpid()}"
    assert labelled.extensions["monitoring"].publisher.host == "host-a"
