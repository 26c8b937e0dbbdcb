"""Query plans from the dashboard: generic plans of captured statements, EXPLAIN ANALYZE for
admins only and only for SELECTs, rolled back, audited; bad input refused, changing nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError

from tests.admin_support import count_rows, text_of
from tests.conftest import AppFactory, Auth
from tests.e2e.stack import libpq_url
from tests.monitoring_support import FORGET_STATEMENTS
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole
from webapp.models.enums import AuditAction
from webapp.monitoring import plans
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.store import save_slow_queries

pytestmark = pytest.mark.postgres

TABLE = "plan_scratch"
ROWS = 20_000
CAPTURED = f"SELECT id, label FROM {TABLE} WHERE label = $1 ORDER BY id LIMIT $2"
FINGERPRINT = "00000000000000aa"


@pytest.fixture
def scratch_table(app: Flask) -> Iterator[str]:
    """A table large enough for a sequential scan over it to be flagged; dropped afterwards."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(FORGET_STATEMENTS))
        connection.execute(
            text(
                f"CREATE TABLE {TABLE} AS SELECT g AS id, g % 100 AS bucket, md5(g::text) AS label "
                f"FROM generate_series(1, {ROWS}) g"
            )
        )
        connection.execute(text(f"ANALYZE {TABLE}"))
    yield TABLE
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {TABLE}"))


def capture(app: Flask, query: str = CAPTURED) -> None:
    now = utcnow()
    with app.app_context(), db.engine.begin() as connection:
        save_slow_queries(connection, [SlowQuery(FINGERPRINT, query, 1, 500.0, 500.0, 1, now, now, "/admin/task/")])


def plan_rows(html: str) -> list[str]:
    [table] = re.findall(r'<table[^>]*id="plan-tree".*?</table>', html, re.S)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).replace("&#8627;", "").split()) for row in rows]


def test_the_generic_plan_of_a_captured_statement_is_drawn_with_a_large_seq_scan_flagged(
    app: Flask, auth: Auth, scratch_table: str
) -> None:
    capture(app)
    auth.login(OperatorRole.VIEWER)
    response = auth.client.get(f"/admin/dashboard/plan?fingerprint={FINGERPRINT}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Generic plan" in html and "nothing ran" in html
    rows = plan_rows(html)
    assert rows[0].startswith("Limit")
    [scan] = [row for row in rows if row.startswith("Seq Scan")]
    assert f"sequential scan over about {ROWS:,} rows" in scan and TABLE in scan and "(label = $1)" in scan
    assert "dashboard-flagged" in html
    assert "EXPLAIN ANALYZE" not in html.split("Generic plan")[1], "viewers get no ANALYZE form"


def test_the_dashboard_links_each_captured_statement_to_its_plan(app: Flask, auth: Auth) -> None:
    capture(app)
    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    [row] = data["slow_queries"]["top"]
    assert row["plan_url"] == f"/admin/dashboard/plan?fingerprint={FINGERPRINT}"


def test_a_pg_stat_statements_entry_has_its_plan_by_queryid(app: Flask, auth: Auth, scratch_table: str) -> None:
    with app.app_context(), db.engine.connect() as connection:
        # Among the dashboard's top statements: the earlier tests' in this database may outrank it.
        connection.execute(text(FORGET_STATEMENTS))
        connection.execute(text(f"SELECT count(*) FROM {TABLE} WHERE bucket = :bucket"), {"bucket": 7})
        queryid = connection.scalar(
            text("SELECT queryid FROM pg_stat_statements WHERE query LIKE :pattern"),
            {"pattern": f"SELECT count(*) FROM {TABLE} WHERE bucket = $1"},
        )
    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert any(
        row["plan_url"] == f"/admin/dashboard/plan?queryid={queryid}" for row in data["statements"]["statements"]
    )
    rows = plan_rows(auth.client.get(f"/admin/dashboard/plan?queryid={queryid}").get_data(as_text=True))
    assert any(row.startswith("Seq Scan") and "(bucket = $1)" in row for row in rows)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("fingerprint=zz", 400, "fingerprint must be 16 hexadecimal characters"),
        ("fingerprint=00000000000000ff", 404, "No captured slow statement has the fingerprint 00000000000000ff"),
        ("queryid=twelve", 400, "queryid must be a whole number"),
        ("queryid=99999999999999999999", 400, "queryid is out of range"),
        ("queryid=12345", 404, "pg_stat_statements has no statement 12345 in this database"),
        ("", 400, "Say which statement"),
    ],
)
def test_a_plan_asked_for_badly_is_a_clear_refusal(auth: Auth, query: str, status: int, message: str) -> None:
    auth.login(OperatorRole.VIEWER)
    response = auth.client.get(f"/admin/dashboard/plan?{query}")
    assert response.status_code == status
    assert message in text_of(response)


def test_a_statement_without_a_generic_plan_says_why_and_the_page_still_answers(app: Flask, auth: Auth) -> None:
    capture(app, "SELECT $1 IS NULL")
    auth.login(OperatorRole.VIEWER)
    response = auth.client.get(f"/admin/dashboard/plan?fingerprint={FINGERPRINT}")
    assert response.status_code == 200
    assert "The plan could not be made: could not determine data type of parameter $1" in text_of(response)


def test_a_utility_statement_has_no_plan(app: Flask, auth: Auth) -> None:
    capture(app, "VACUUM tasks")
    auth.login(OperatorRole.VIEWER)
    assert "Only SELECT, INSERT, UPDATE and DELETE have plans" in text_of(
        auth.client.get(f"/admin/dashboard/plan?fingerprint={FINGERPRINT}")
    )


def test_the_generic_plan_of_a_delete_runs_nothing(app: Flask, auth: Auth, scratch_table: str) -> None:
    capture(app, f"DELETE FROM {TABLE} WHERE bucket = $1 OR $2::int IS NULL")
    auth.login(OperatorRole.VIEWER)
    rows = plan_rows(auth.client.get(f"/admin/dashboard/plan?fingerprint={FINGERPRINT}").get_data(as_text=True))
    assert rows[0].startswith("Delete")
    with app.app_context():
        assert db.session.scalar(text(f"SELECT count(*) FROM {TABLE}")) == ROWS


def analyze(auth: Auth, statement: str) -> tuple[int, str]:
    token = auth.csrf_token("/admin/dashboard/")
    response = auth.client.post("/admin/dashboard/analyze", data={"csrf_token": token, "statement": statement})
    return response.status_code, response.get_data(as_text=True)


def test_an_admin_explain_analyze_runs_rolled_back_flags_wrong_estimates_and_is_audited(
    app: Flask, auth: Auth, scratch_table: str
) -> None:
    auth.login(OperatorRole.ADMIN)
    status, html = analyze(auth, f"SELECT count(*) FROM {TABLE} WHERE bucket % 2 = 0 AND label <> 'secret-value'")
    assert status == 200
    assert "EXPLAIN ANALYZE" in html and "rolled back" in html
    [scan] = [row for row in plan_rows(html) if row.startswith("Seq Scan")]
    assert re.search(r"estimated [\d,]+ rows, got 10,000", scan), scan
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.EXPLAIN)).all()
    assert entry.model == "Statement" and re.fullmatch(r"[0-9a-f]{16}", entry.object_id)
    assert "secret-value" not in entry.summary, "the audit keeps the statement's shape, not its values"
    assert "took" in entry.summary


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (f"DELETE FROM {TABLE}", "only a SELECT is allowed"),
        (f"WITH gone AS (DELETE FROM {TABLE} RETURNING id) SELECT count(*) FROM gone", "A WITH query that writes"),
        (f"SELECT * FROM {TABLE} FOR UPDATE", "locks rows"),
        (f"SELECT * INTO copied FROM {TABLE}", "creates a table"),
        (f"SELECT 1; DELETE FROM {TABLE}", "Exactly one statement"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock() has effects a rollback does not undo"),
        ("SELECT pg_catalog.pg_terminate_backend(1)", "pg_terminate_backend() has effects"),
        (f"SELECT * FROM {TABLE} WHERE id = $1", "replace each $n placeholder"),
        ("SELEKT 1", "PostgreSQL cannot parse this statement"),
    ],
)
def test_explain_analyze_refuses_what_could_write_and_runs_nothing(
    app: Flask, auth: Auth, scratch_table: str, statement: str, reason: str
) -> None:
    auth.login(OperatorRole.ADMIN)
    status, html = analyze(auth, statement)
    assert status == 400
    assert reason in html
    with app.app_context():
        assert db.session.scalar(text(f"SELECT count(*) FROM {TABLE}")) == ROWS
        assert count_rows(AuditEntry, AuditEntry.action == AuditAction.EXPLAIN) == 0
        assert db.session.scalar(text("SELECT to_regclass('copied')")) is None


def test_a_select_calling_a_function_that_writes_fails_in_the_read_only_transaction(
    app: Flask, auth: Auth, scratch_table: str
) -> None:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"CREATE SEQUENCE {TABLE}_seq"))
    auth.login(OperatorRole.ADMIN)
    status, html = analyze(auth, f"SELECT nextval('{TABLE}_seq')")
    assert status == 200
    assert "cannot execute nextval() in a read-only transaction" in html
    with app.app_context():
        assert db.session.scalar(text(f"SELECT last_value FROM {TABLE}_seq")) == 1
        assert db.session.scalar(text(f"SELECT is_called FROM {TABLE}_seq")) is False
        [summary] = db.session.scalars(select(AuditEntry.summary).where(AuditEntry.action == AuditAction.EXPLAIN))
    assert "failed" in summary, "an attempt that ran is audited even when the database stopped it"


@pytest.mark.parametrize("role", [OperatorRole.VIEWER, OperatorRole.EDITOR])
def test_explain_analyze_is_for_admins_only(app: Flask, auth: Auth, role: OperatorRole) -> None:
    auth.login(role)
    status, _ = analyze(auth, "SELECT 1")
    assert status == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_explain_analyze_without_a_statement_is_a_clear_400(auth: Auth) -> None:
    auth.login(OperatorRole.ADMIN)
    status, html = analyze(auth, "   ")
    assert status == 400 and "statement: give one SELECT" in html


def test_explain_analyze_runs_under_the_dashboards_statement_timeout(app: Flask, auth: Auth) -> None:
    auth.login(OperatorRole.ADMIN)
    status, html = analyze(auth, "SELECT count(*) FROM generate_series(1, 1000000000)")
    assert status == 200
    assert "canceling statement due to statement timeout" in html


@pytest.mark.usefixtures("app")
def test_through_pgbouncer_a_plan_leaves_no_prepared_statement_behind(
    make_app: AppFactory, pgbouncer: str, scratch_table: str
) -> None:
    pooled = make_app(database_url=pgbouncer)
    with pooled.app_context(), db.engine.connect() as connection:
        plan = plans.generic_plan(connection, CAPTURED)
        again = plans.generic_plan(connection, CAPTURED)
        connection.rollback()
    assert plan.nodes == again.nodes
    # PgBouncer has one server connection: every client below reaches the one the plans ran on.
    with closing(psycopg2.connect(libpq_url(pgbouncer))) as other, other.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT current_setting('plan_cache_mode')")
        assert cursor.fetchone() == ("auto",)


def test_through_pgbouncer_a_plan_that_fails_leaves_no_prepared_statement_behind(
    make_app: AppFactory, pgbouncer: str
) -> None:
    pooled = make_app(database_url=pgbouncer)
    with pooled.app_context(), db.engine.connect() as connection:
        # PREPARE accepts it; planning folds the constant and fails, after the PREPARE.
        with pytest.raises(DataError, match="division by zero"):
            plans.generic_plan(connection, "SELECT 1 / 0")
        connection.rollback()
    with closing(psycopg2.connect(libpq_url(pgbouncer))) as other, other.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
