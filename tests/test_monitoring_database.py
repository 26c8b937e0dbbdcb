"""Database-wide figures on the dashboard: size, cache hits, wraparound age, sequences near their
maximum, maintenance due; and the findings they raise, each naming its threshold."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text

from tests.admin_support import table_missing, text_of
from tests.conftest import AppFactory, Auth
from webapp.extensions import db
from webapp.models import OperatorRole

pytestmark = pytest.mark.postgres

SEQUENCE = "nearly_spent_seq"


@pytest.fixture
def nearly_spent_sequence(app: Flask) -> Iterator[str]:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"CREATE SEQUENCE {SEQUENCE} AS integer MAXVALUE 100"))
        connection.execute(text(f"SELECT setval('{SEQUENCE}', 90)"))
    yield SEQUENCE
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"DROP SEQUENCE {SEQUENCE}"))


def dashboard(auth: Auth) -> dict:
    auth.login(OperatorRole.VIEWER)
    return auth.client.get("/admin/dashboard/data.json").get_json()


def test_the_database_figures_are_reported(auth: Auth) -> None:
    figures = dashboard(auth)["database_figures"]
    assert figures["size_bytes"] > 0
    assert 0 < figures["wraparound_age"] < 2**31
    assert figures["oldest_tables"] and all(row["wraparound_age"] >= 0 for row in figures["oldest_tables"])
    page = text_of(auth.client.get("/admin/dashboard/"))
    assert 'id="database-heading"' in page and "Wraparound age" in page


def test_a_sequence_near_its_maximum_is_flagged_and_raises_a_finding(auth: Auth, nearly_spent_sequence: str) -> None:
    data = dashboard(auth)
    [sequence] = [row for row in data["database_figures"]["sequences"] if row["name"] == SEQUENCE]
    assert sequence["used_ratio"] == pytest.approx(0.9) and sequence["near_max"]
    [finding] = [finding for finding in data["findings"] if SEQUENCE in finding["message"]]
    assert finding["message"] == f"Sequence {SEQUENCE} has used 90% of its integer range."
    assert finding["threshold"] == "75% of the maximum"


@pytest.mark.usefixtures("app")
def test_the_wraparound_finding_names_its_configured_threshold(make_app: AppFactory) -> None:
    strict = make_app(FINDING_WRAPAROUND_AGE="1")
    data = dashboard(Auth(strict, strict.test_client()))
    [finding] = [finding for finding in data["findings"] if "transaction ID" in finding["message"]]
    assert finding["level"] == "danger" and finding["threshold"] == "FINDING_WRAPAROUND_AGE=1"


def test_a_table_changed_enough_is_listed_as_due_for_vacuum_and_analyze(app: Flask, auth: Auth) -> None:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE churned WITH (autovacuum_enabled = off) AS SELECT generate_series(1, 2000) AS n")
        )
        connection.execute(text("DELETE FROM churned WHERE n % 2 = 0"))
    try:
        with app.app_context():
            # The statistics collector publishes a backend's counters when its transaction ends.
            db.session.execute(text("SELECT pg_stat_force_next_flush()"))
            db.session.commit()
        due = {row["name"]: row for row in dashboard(auth)["database_figures"]["maintenance_due"]}
        assert due["churned"]["vacuum_due"] and due["churned"]["analyze_due"]
        assert due["churned"]["dead_rows"] == 1000
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TABLE churned"))


def test_the_database_panel_fails_alone(app: Flask, auth: Auth) -> None:
    with table_missing(app, "monitoring_workers"):
        data = dashboard(auth)
    assert "monitoring_workers" in data["pool"]["error"]
    assert data["database_figures"]["size_bytes"] > 0
    assert re.search(r"\d", str(data["database_figures"]["wraparound_age"]))
