"""Statement history: one elected worker per round stores pg_stat_statements deltas, which survive
resets of pg_stat_statements; 1 h / 24 h / 7 d views, regressions, bounded pruning; and the
app-side slow statements per minute."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from tests.admin_support import text_of
from tests.conftest import AppFactory, Auth
from tests.monitoring_support import seed_rounds
from tests.waits import wait_for
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import OperatorRole
from webapp.monitoring import statement_history
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.statement_history import (
    PRUNE_ROUNDS_PER_PASS,
    ROLL_UP_AFTER,
    ROLL_UP_ROUNDS_PER_PASS,
    WINDOWS,
    HistoryReport,
    StatementDelta,
    StatementHour,
    StatementRound,
    StatementText,
    history_report,
    roll_up,
    store_round,
)

EVERY_ROUND = timedelta(0)
KEEP = timedelta(days=14)
PROBE = "SELECT count(*) FROM tasks WHERE title = :title"
PROBE_TEXT = "SELECT count(*) FROM tasks WHERE title = $1"


def run_probe(app: Flask, times: int) -> None:
    with app.app_context(), db.engine.connect() as connection:
        for n in range(times):
            connection.execute(text(PROBE), {"title": f"probe-{n}"})


def a_round(app: Flask, every: timedelta = EVERY_ROUND) -> bool:
    with app.app_context(), db.engine.begin() as connection:
        return store_round(connection, every, KEEP)


def probe_calls(app: Flask) -> int:
    """The probe's calls over every stored round."""
    with app.app_context():
        return (
            db.session.scalar(
                select(func.coalesce(func.sum(StatementDelta.calls), 0))
                .join(StatementText, StatementText.queryid == StatementDelta.queryid)
                .where(StatementText.query == PROBE_TEXT)
            )
            or 0
        )


@pytest.mark.postgres
def test_the_first_round_sets_baselines_and_the_next_stores_what_ran_in_between(app: Flask) -> None:
    run_probe(app, 2)
    assert a_round(app)
    assert probe_calls(app) == 0, "totals from before the first round are no round's work"
    run_probe(app, 5)
    assert a_round(app)
    assert probe_calls(app) == 5


@pytest.mark.postgres
def test_history_survives_a_reset_of_pg_stat_statements_from_the_dashboard(app: Flask, auth: Auth) -> None:
    a_round(app)
    run_probe(app, 4)
    a_round(app)
    auth.login(OperatorRole.ADMIN)
    response = auth.client.post("/admin/dashboard/reset", data={"csrf_token": auth.csrf_token("/admin/dashboard/")})
    assert response.status_code == 302
    run_probe(app, 3)
    a_round(app)
    assert probe_calls(app) == 4 + 3, "nothing lost to the reset, nothing counted twice"


@pytest.mark.postgres
def test_a_statement_reset_behind_our_back_counts_from_zero(app: Flask) -> None:
    a_round(app)
    run_probe(app, 6)
    a_round(app)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("SELECT pg_stat_statements_reset()"))  # the whole view, by someone else
    run_probe(app, 2)
    a_round(app)
    assert probe_calls(app) == 6 + 2


@pytest.mark.postgres
def test_a_round_that_is_not_due_yet_is_not_stored(app: Flask) -> None:
    assert a_round(app, every=timedelta(hours=1))
    assert not a_round(app, every=timedelta(hours=1))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatementRound)) == 1


@pytest.mark.postgres
def test_only_one_worker_stores_a_round_while_another_holds_the_election(app: Flask) -> None:
    """The election is a transaction-level advisory lock: a second worker trying meanwhile skips."""
    elected, stored = threading.Event(), []
    release = threading.Event()

    def first_worker() -> None:
        with app.app_context(), db.engine.begin() as connection:
            stored.append(store_round(connection, EVERY_ROUND, KEEP))
            elected.set()
            release.wait(30)

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        assert elected.wait(30)
        assert not a_round(app), "the lock is held: this worker leaves the round to the other"
    finally:
        release.set()
        worker.join(30)
    assert stored == [True]
    assert a_round(app), "once committed, the lock is gone with the transaction"


@pytest.mark.postgres
@pytest.mark.usefixtures("app")
def test_through_pgbouncer_in_transaction_mode_the_election_holds(make_app: AppFactory, pgbouncer: str) -> None:
    pooled = make_app(database_url=pgbouncer)
    assert a_round(pooled)
    assert not a_round(pooled, every=timedelta(hours=1))
    # pg_locks is the whole cluster's: other tests' rounds (other databases, this one's publisher)
    # hold the transaction-level lock for a moment. A session-level lock left behind would stay.
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )

    def none_held() -> bool:
        count = db.session.scalar(held)
        db.session.rollback()  # each look in a transaction of its own, as the pooler hands them out
        return count == 0

    with pooled.app_context():
        wait_for(none_held, 30, "no advisory lock held")


@pytest.mark.postgres
def test_pruning_deletes_a_bounded_batch_of_the_oldest_expired_rounds(app: Flask) -> None:
    expired = PRUNE_ROUNDS_PER_PASS * 2 + 3
    with app.app_context(), db.engine.begin() as connection:
        seed_rounds(connection, [(timedelta(days=20, minutes=n), 1, 1.0) for n in range(expired)])
        seed_rounds(connection, [(timedelta(hours=1), 1, 1.0)], queryid=43)
        now = connection.scalar(text("SELECT now()"))
        statement_history.prune(connection, now - KEEP)
        left = connection.scalar(select(func.count()).select_from(StatementRound))
        oldest = connection.scalar(select(func.min(StatementRound.captured_at)))
    assert left == expired - PRUNE_ROUNDS_PER_PASS + 1
    assert now - oldest < timedelta(days=20, minutes=expired - PRUNE_ROUNDS_PER_PASS), "the oldest went first"


@pytest.mark.postgres
def test_a_statement_slower_than_in_the_window_before_is_listed_as_regressed(app: Flask, auth: Auth) -> None:
    with app.app_context(), db.engine.begin() as connection:
        seed_rounds(connection, [(timedelta(minutes=90), 40, 400.0), (timedelta(minutes=30), 40, 1200.0)])
    auth.login(OperatorRole.VIEWER)
    html = text_of(auth.client.get("/admin/dashboard/statements?window=1h"))
    regressed = html.split('id="regressed-heading"')[1].split("</section>")[0]
    assert "SELECT * FROM tasks WHERE id = $1" in regressed
    assert "200.0 %" in regressed, "mean 10 ms, then 30 ms: up 200 %"
    assert "/admin/dashboard/plan?queryid=42" in regressed
    day = text_of(auth.client.get("/admin/dashboard/statements?window=24h"))
    assert "No statement got slower." in day, "over 24 h both rounds are in one window"


@pytest.mark.postgres
def test_too_few_calls_are_not_a_regression(app: Flask, auth: Auth) -> None:
    with app.app_context(), db.engine.begin() as connection:
        seed_rounds(connection, [(timedelta(minutes=90), 3, 30.0), (timedelta(minutes=30), 3, 300.0)])
    auth.login(OperatorRole.VIEWER)
    assert "No statement got slower." in text_of(auth.client.get("/admin/dashboard/statements?window=1h"))


@pytest.mark.postgres
@pytest.mark.parametrize("window", ["2h", "", "1h;drop"])
def test_an_unknown_window_is_a_clear_400(auth: Auth, window: str) -> None:
    auth.login(OperatorRole.VIEWER)
    response = auth.client.get(f"/admin/dashboard/statements?window={window}")
    assert response.status_code == 400
    assert "window must be one of 1h, 24h, 7d" in text_of(response)


@pytest.mark.postgres
def test_the_publisher_stores_the_history_as_part_of_its_round(make_app: AppFactory, app: Flask) -> None:
    worker = make_app(STATEMENT_HISTORY_INTERVAL_SECONDS="3600")
    publisher = worker.extensions["monitoring"].publisher
    publisher.publish_once()
    publisher.publish_once()
    publisher.dispose()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatementRound)) == 1, "one round per interval"


def test_slow_statements_published_are_charted_per_minute(app: Flask, auth: Auth) -> None:
    publisher = app.extensions["monitoring"].publisher
    now = utcnow()
    captures = [SlowQuery("00000000000000cc", "SELECT 1", 3, 900.0, 400.0, 3, now, now, "/admin/task/")]
    publisher.slow_queries.merge(captures)
    publisher.publish_once()
    auth.login(OperatorRole.VIEWER)
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert sum(point["slow_calls"] for point in data["history"]["points"]) == 3
    assert sum(point["slow_ms"] for point in data["history"]["points"]) == 900.0
    assert 'data-chart="slow"' in text_of(auth.client.get("/admin/dashboard/"))


@pytest.mark.postgres
def test_a_round_runs_under_the_dashboards_statement_timeout_for_its_transaction_only(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        with connection.begin():
            store_round(connection, EVERY_ROUND, KEEP)
            assert connection.scalar(text("SHOW statement_timeout")) == "2s"
        assert connection.scalar(text("SHOW statement_timeout")) == "0"


def seed_spans(connection: Connection, spans: list[tuple[timedelta, timedelta]], statements: int = 3) -> None:
    """A round every 5 minutes from each span's first age to its second, each with a delta for
    queryids 1..``statements`` whose figures vary by round and statement."""
    for oldest, newest in spans:
        minutes = {
            "oldest": oldest // timedelta(minutes=1),
            "newest": newest // timedelta(minutes=1),
            "statements": statements,
        }
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_rounds (captured_at, stats_reset, statements) "
                "SELECT now() - make_interval(mins => m), NULL, :statements FROM generate_series(:newest, :oldest, 5) m"
            ),
            minutes,
        )
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_history (captured_at, queryid, calls, total_ms, rows) "
                "SELECT now() - make_interval(mins => m), q, 20 + q * (m % 60), q * 1.5 * (1 + m % 7), q "
                "FROM generate_series(:newest, :oldest, 5) m, generate_series(1, :statements) q"
            ),
            minutes,
        )
    connection.execute(
        text(
            "INSERT INTO monitoring_statement_texts (queryid, fingerprint, query, last_seen) "
            "SELECT q, lpad(to_hex(q), 16, '0'), 'SELECT ' || q, now() FROM generate_series(1, :statements) q"
        ),
        {"statements": statements},
    )


def rounds_with_deltas_before(connection: Connection, before: object) -> int:
    return connection.scalar(
        select(func.count(func.distinct(StatementDelta.captured_at))).where(StatementDelta.captured_at < before)
    )


@pytest.mark.postgres
def test_rounds_older_than_a_day_roll_up_into_hours_that_add_up_to_them_in_bounded_passes(app: Flask) -> None:
    with app.app_context(), db.engine.begin() as connection:
        seed_spans(connection, [(timedelta(hours=30), timedelta(hours=20))])
        now = connection.scalar(text("SELECT now()"))
        before = now - ROLL_UP_AFTER
        by_hour = text(
            "SELECT date_trunc('hour', captured_at, 'UTC') AS hour, queryid, sum(calls) AS calls, "
            "sum(total_ms) AS total_ms, sum(rows) AS rows FROM monitoring_statement_history "
            "WHERE captured_at < :before GROUP BY 1, 2 ORDER BY 1, 2"
        )
        expected = [tuple(row) for row in connection.execute(by_hour, {"before": before})]
        newer = connection.scalar(select(func.count()).where(StatementDelta.captured_at >= before))
        rounds = connection.scalar(select(func.count()).select_from(StatementRound))
        old = rounds_with_deltas_before(connection, before)
        assert old > 2 * ROLL_UP_ROUNDS_PER_PASS, "enough for several passes"
        while old:
            roll_up(connection, before)
            left = rounds_with_deltas_before(connection, before)
            assert left == max(old - ROLL_UP_ROUNDS_PER_PASS, 0), "one bounded batch per pass, oldest first"
            old = left
        hours = StatementHour.__table__
        rolled = [
            tuple(row)
            for row in connection.execute(
                select(hours.c.hour, hours.c.queryid, hours.c.calls, hours.c.total_ms, hours.c.rows).order_by(
                    hours.c.hour, hours.c.queryid
                )
            )
        ]
        assert connection.scalar(select(func.count()).where(StatementDelta.captured_at >= before)) == newer
        assert connection.scalar(select(func.count()).select_from(StatementRound)) == rounds, "rounds are kept"
    # Equal even for the hours whose rounds two passes rolled up (a pass ends at a round, not an hour).
    assert [(*row[:3], pytest.approx(row[3]), row[4]) for row in rolled] == expected
    assert len({row[0] for row in rolled}) >= 6


def reports(connection: Connection) -> dict[str, HistoryReport]:
    return {window: history_report(connection, window, regression_percent=50) for window in WINDOWS}


def figures(report: HistoryReport) -> dict[str, list[tuple[int, int, float, int]]]:
    return {
        name: [(row.queryid, row.calls, round(row.total_ms, 6), row.previous_calls) for row in trends]
        for name, trends in (("top", report.top), ("regressed", report.regressed))
    }


@pytest.mark.postgres
def test_every_window_shows_the_same_figures_before_and_after_the_roll_up(app: Flask) -> None:
    """Away from a window's edges an hour's rows count where its rounds did: the 7 d window (and
    the one before it) from hours, 1 h and 24 h from rounds, the day before 24 h from hours."""
    spans = [
        (timedelta(minutes=50), timedelta(minutes=10)),  # 1 h
        (timedelta(minutes=110), timedelta(minutes=70)),  # the hour before
        (timedelta(hours=12), timedelta(hours=10)),  # 24 h
        (timedelta(hours=32), timedelta(hours=28)),  # the day before: rolled up
        (timedelta(days=3), timedelta(days=2)),  # 7 d: rolled up
        (timedelta(days=10), timedelta(days=9)),  # the week before: rolled up
    ]
    with app.app_context(), db.engine.begin() as connection:
        seed_spans(connection, spans)
        before = reports(connection)
        now = connection.scalar(text("SELECT now()"))
        while rounds_with_deltas_before(connection, now - ROLL_UP_AFTER):
            roll_up(connection, now - ROLL_UP_AFTER)
        assert connection.scalar(select(func.count()).select_from(StatementHour)) > 0
        after = reports(connection)
    for window in WINDOWS:
        assert figures(after[window]) == figures(before[window]), window
        assert after[window].top and after[window].top[0].previous_calls > 0, "both windows read"
    assert len(before["7d"].top) == 3


@pytest.mark.postgres
def test_the_elected_round_rolls_up_and_pruning_takes_the_expired_hours(app: Flask) -> None:
    with app.app_context(), db.engine.begin() as connection:
        seed_spans(
            connection,
            [
                (timedelta(days=20), timedelta(days=20) - timedelta(minutes=55)),
                (timedelta(hours=26), timedelta(hours=25)),
            ],
        )
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_hourly (hour, queryid, calls, total_ms, rows) "
                "SELECT date_trunc('hour', now() - interval '20 days', 'UTC'), 9, 1, 1.0, 1"
            )
        )
    assert a_round(app)
    with app.app_context(), db.engine.begin() as connection:
        now = connection.scalar(text("SELECT now()"))
        assert rounds_with_deltas_before(connection, now - ROLL_UP_AFTER) == 0, "the day-old rounds rolled up"
        oldest_hour = connection.scalar(select(func.min(StatementHour.hour)))
    assert now - oldest_hour < timedelta(days=2), "the hours older than the expired rounds went with them"
