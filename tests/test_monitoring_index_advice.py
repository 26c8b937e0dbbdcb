"""Index advice: duplicate and invalid indexes, estimated bloat, and suggested indexes priced by
hypopg when it is installed, from a heuristic otherwise; each with the statement to run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import text

from tests.admin_support import text_of
from tests.conftest import AppFactory, Auth
from tests.e2e.stack import libpq_url
from tests.monitoring_support import FORGET_STATEMENTS
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring.index_advice import candidate_columns, index_advice

pytestmark = pytest.mark.postgres

TABLE = "advice_scratch"
ROWS = 30_000


def run(app: Flask, *statements: str, autocommit: bool = False) -> None:
    with app.app_context():
        connection = db.engine.connect()
        if autocommit:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        with connection:
            for statement in statements:
                connection.execute(text(statement))
            if not autocommit:
                connection.commit()


@pytest.fixture
def scratch_table(app: Flask) -> Iterator[str]:
    run(
        app,
        FORGET_STATEMENTS,
        f"CREATE TABLE {TABLE} AS SELECT g AS id, g % 50 AS bucket, md5(g::text) AS label "
        f"FROM generate_series(1, {ROWS}) g",
        f"ANALYZE {TABLE}",
    )
    yield TABLE
    run(app, f"DROP TABLE {TABLE}")


@pytest.fixture
def hypopg(app: Flask) -> Iterator[None]:
    with app.app_context():
        available = db.session.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"))
        db.session.rollback()
    if not available:
        pytest.skip("hypopg is not installed (Debian: postgresql-15-hypopg; .ci/run installs it)")
    run(app, "CREATE EXTENSION IF NOT EXISTS hypopg")
    yield
    run(app, "DROP EXTENSION IF EXISTS hypopg")


def scan_by_label(app: Flask, times: int = 3) -> None:
    """A statement pg_stat_statements records (as ``… WHERE label = $1``) that scans the whole table."""
    with app.app_context(), db.engine.connect() as connection:
        for n in range(times):
            connection.execute(text(f"SELECT id FROM {TABLE} WHERE label = :label"), {"label": f"absent-{n}"})


def advice_page(auth: Auth) -> str:
    auth.login(OperatorRole.VIEWER)
    response = auth.client.get("/admin/dashboard/indexes")
    assert response.status_code == 200
    return text_of(response)


@pytest.mark.usefixtures("hypopg")
def test_with_hypopg_a_suggestion_is_priced_by_the_planner(app: Flask, auth: Auth, scratch_table: str) -> None:
    scan_by_label(app)
    html = advice_page(auth)
    assert "Priced with hypopg" in html
    assert f"CREATE INDEX CONCURRENTLY ON {TABLE} (label);" in html
    [card] = re.findall(r'<div class="card mb-2 dashboard-suggestion">.*?</ul>', html, re.S)
    before, after = (
        float(cost.replace(",", "")) for cost in re.findall(r"Planner cost ([\d,]+)\s*→\s*([\d,]+)", card)[0]
    )
    assert after < before / 10
    assert f"SELECT id FROM {TABLE} WHERE label = $1" in card and "/admin/dashboard/plan?queryid=" in card
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM hypopg_list_indexes")) == 0, "no hypothetical index left"


def test_without_hypopg_the_suggestion_is_a_heuristic_and_says_how_to_enable_it(
    app: Flask, auth: Auth, scratch_table: str
) -> None:
    run(app, "DROP EXTENSION IF EXISTS hypopg")
    scan_by_label(app)
    html = advice_page(auth)
    assert "Heuristic suggestions" in html and "CREATE EXTENSION hypopg" in html
    assert f"CREATE INDEX CONCURRENTLY ON {TABLE} (label);" in html
    assert "Not priced (heuristic)." in html


@pytest.mark.usefixtures("hypopg")
def test_no_index_is_suggested_where_the_planner_would_not_use_it(app: Flask, auth: Auth, scratch_table: str) -> None:
    with app.app_context(), db.engine.connect() as connection:
        for n in range(3):  # matches about half the table: a scan stays cheaper than any index
            connection.execute(text(f"SELECT id FROM {TABLE} WHERE bucket > :low"), {"low": 20 + n})
    assert f"ON {TABLE} (bucket)" not in advice_page(auth)


def test_an_index_leading_another_is_reported_as_a_duplicate(app: Flask, auth: Auth, scratch_table: str) -> None:
    run(
        app,
        f"CREATE INDEX {TABLE}_bucket ON {TABLE} (bucket)",
        f"CREATE INDEX {TABLE}_bucket_label ON {TABLE} (bucket, label)",
        f"CREATE UNIQUE INDEX {TABLE}_id ON {TABLE} (id)",
        f"CREATE INDEX {TABLE}_id_bucket ON {TABLE} (id, bucket)",
    )
    html = advice_page(auth)
    [section] = re.findall(r'id="duplicates-heading".*?</section>', html, re.S)
    assert f"DROP INDEX CONCURRENTLY {TABLE}_bucket;" in section
    assert f"covered by {TABLE}_bucket_label" in section
    assert f"DROP INDEX CONCURRENTLY {TABLE}_id;" not in section, "a unique index enforces something: kept"


def test_a_failed_concurrent_build_is_reported_as_an_invalid_index(
    app: Flask, auth: Auth, scratch_table: str, database_url: str
) -> None:
    run(app, f"INSERT INTO {TABLE} VALUES (1, 1, 'twin')")
    with closing(psycopg2.connect(libpq_url(database_url))) as raw:
        raw.autocommit = True
        with raw.cursor() as cursor, pytest.raises(psycopg2.errors.UniqueViolation):
            cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {TABLE}_unique_id ON {TABLE} (id)")
    html = advice_page(auth)
    [section] = re.findall(r'id="invalid-heading".*?</section>', html, re.S)
    assert f"REINDEX INDEX CONCURRENTLY {TABLE}_unique_id;" in section


def test_an_index_left_mostly_empty_by_deletes_shows_estimated_bloat(
    app: Flask, auth: Auth, scratch_table: str
) -> None:
    run(app, f"CREATE INDEX {TABLE}_label ON {TABLE} (label)")
    run(app, f"DELETE FROM {TABLE} WHERE id % 10 <> 0", f"VACUUM ANALYZE {TABLE}", autocommit=True)
    html = advice_page(auth)
    [section] = re.findall(r'id="bloat-heading".*?</section>', html, re.S)
    assert f"REINDEX INDEX CONCURRENTLY {TABLE}_label;" in section


@pytest.mark.parametrize(
    ("condition", "columns"),
    [
        ("((status)::text = $1)", ("status",)),
        ("((created_at > $2) AND (owner_id = $1))", ("owner_id", "created_at")),
        ("(owner_id = ANY ($1))", ("owner_id",)),
        ("((title)::text ~~ $1)", ()),
        ("(a = b)", ()),
        ("(((a = $1) AND (b = $2)) AND ((c = $3) AND (d = $4)))", ("a", "b", "c")),
        ("not sql at all (", ()),
    ],
)
def test_a_scan_filter_suggests_equality_columns_first_then_ranges(condition: str, columns: tuple[str, ...]) -> None:
    assert candidate_columns(condition) == columns


@pytest.mark.usefixtures("hypopg")
def test_through_pgbouncer_no_hypothetical_index_reaches_the_next_client(
    app: Flask, make_app: AppFactory, pgbouncer: str, scratch_table: str
) -> None:
    scan_by_label(app)
    pooled = make_app(database_url=pgbouncer)
    with pooled.app_context(), db.engine.connect() as connection:
        advice = index_advice(connection)
        connection.rollback()
    assert [suggestion.columns for suggestion in advice.suggestions if suggestion.table_name == TABLE] == [("label",)]
    # PgBouncer has one server connection: this client gets the one the advice ran on.
    with closing(psycopg2.connect(libpq_url(pgbouncer))) as other, other.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM hypopg_list_indexes")
        assert cursor.fetchone() == (0,)
