"""The public probes: liveness without the database, readiness with it, and nothing more said."""

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from tests.conftest import AppFactory
from webapp.extensions import db

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"


def test_healthz_answers_signed_out_without_touching_the_database(make_app: AppFactory) -> None:
    response = make_app(database_url=UNREACHABLE_DATABASE).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_the_migrated_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_reports_an_unreachable_database_without_details(make_app: AppFactory) -> None:
    response = make_app(database_url=UNREACHABLE_DATABASE).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "reason": "database unreachable"}
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_readyz_waits_for_pending_migrations_then_becomes_ready(tmp_path: Path, make_app: AppFactory) -> None:
    app = make_app(database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}")
    client = app.test_client()
    pending = client.get("/readyz")
    assert pending.status_code == 503
    assert pending.get_json() == {"status": "unavailable", "reason": "migrations pending"}
    with app.app_context():
        upgrade()
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_sign_in(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_readyz_stays_ready_when_a_newer_release_has_already_migrated(tmp_path: Path, make_app: AppFactory) -> None:
    app = make_app(database_url=f"sqlite:///{tmp_path / 'ahead.sqlite3'}")
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_next_release'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "migrations": "ahead"}
