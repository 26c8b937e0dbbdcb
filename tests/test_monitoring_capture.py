"""Pool metrics and slow-query capture inside one worker, on the real database."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from tests.admin_support import table_missing
from tests.waits import wait_for
from webapp.config import normalize_database_url
from webapp.extensions import db
from webapp.monitoring import Monitoring
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.sql_text import normalize
from webapp.monitoring.store import SlowQueryStat

# The tests' statements made slow on purpose take 210 ms and more.
SLOW_QUERY_MS = 200


@pytest.fixture
def monitoring(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Monitoring]:
    """This process's monitoring, emptied of what earlier tests captured, capturing statements
    slower than ``SLOW_QUERY_MS`` (the suite's threshold is far above anything it runs)."""
    monitoring: Monitoring = app.extensions["monitoring"]
    monkeypatch.setattr(monitoring.slow_queries, "threshold_ms", SLOW_QUERY_MS)
    monitoring.pool.reset()
    monitoring.slow_queries.clear()
    yield monitoring
    monitoring.slow_queries.clear()


def stored_slow_queries() -> list[SlowQueryStat]:
    return list(db.session.scalars(select(SlowQueryStat)))


@pytest.mark.postgres
def test_slow_statement_is_stored_with_fingerprint_and_route_but_no_values(app: Flask, monitoring: Monitoring) -> None:
    secret = "ada.lovelace@example.org"
    with app.test_request_context("/admin/task/"):
        db.session.execute(text("SELECT pg_sleep(:seconds), :email"), {"seconds": 0.25, "email": secret})
        db.session.execute(text(f"SELECT pg_sleep(0.21), '{secret}'"))
        db.session.rollback()
    monitoring.publisher.publish_once()

    with app.app_context():
        by_query = {row.query: row for row in stored_slow_queries()}
    stored = by_query["SELECT pg_sleep($1), $2"]
    assert stored.fingerprint == normalize(stored.query).fingerprint
    assert stored.calls == 2, "both spellings fold into one fingerprint"
    assert stored.max_ms >= 250 and stored.total_ms >= 460
    assert stored.rows == 2
    assert stored.request_path == "/admin/task/"
    assert not [query for query in by_query if secret in query or "0.25" in query]


def test_slow_statement_on_any_database_is_aggregated_per_fingerprint(
    app: Flask, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A recursive count is slow on every database without any sleep function.
    monkeypatch.setattr(monitoring.slow_queries, "threshold_ms", 5)
    count_to = text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) SELECT count(*) FROM c"
    )
    with app.app_context():
        for n in (300_000, 400_000):
            assert db.session.execute(count_to, {"n": n}).scalar() == n
        db.session.rollback()
    monitoring.publisher.publish_once()
    monitoring.publisher.publish_once()  # an empty round changes nothing

    with app.app_context():
        stored = {row.query: row for row in stored_slow_queries()}[normalize(str(count_to), "named").text]
    assert (stored.calls, stored.request_path) == (2, "(outside a request)")
    assert stored.first_seen <= stored.last_seen


def test_failed_publish_keeps_captures_for_the_next_round(
    app: Flask, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitoring.slow_queries, "threshold_ms", 0)
    with app.app_context():
        db.session.execute(text("SELECT 'kept for later'"))
        db.session.rollback()
    with table_missing(app, "monitoring_slow_queries"):
        assert monitoring.publisher.publish_logged() is False
    assert monitoring.publisher.publish_logged() is True
    with app.app_context():
        assert "SELECT $1" in {row.query for row in stored_slow_queries()}


def test_a_failure_to_record_never_fails_the_request(
    app: Flask, auth, client, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.login()

    def broken_record(*args: object) -> None:
        raise RuntimeError("recording is broken")

    monkeypatch.setattr(monitoring.slow_queries, "threshold_ms", 0)
    monkeypatch.setattr(monitoring.slow_queries, "record", broken_record)
    response = client.get("/admin/task/")
    assert response.status_code == 200


HOLD_SECONDS = 0.15


@contextmanager
def instrumented_pool(database_url: str, timeout: float) -> Iterator[tuple[Engine, PoolMonitor]]:
    """A one-connection pool on the test database, instrumented like the app's."""
    engine = create_engine(normalize_database_url(database_url), pool_size=1, max_overflow=0, pool_timeout=timeout)
    monitor = PoolMonitor()
    monitor.instrument(engine)
    try:
        yield engine, monitor
    finally:
        engine.dispose()


@pytest.fixture
def small_pool(database_url: str) -> Iterator[tuple[Engine, PoolMonitor]]:
    """A one-connection pool whose checkouts wait as long as the busiest machine needs."""
    with instrumented_pool(database_url, timeout=60) as pool:
        yield pool


def is_waiting_for_a_connection(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in the pool's queue (a condition wait), judged from its stack:
    a started thread may not have got that far yet on a busy machine."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__:
            return True
        frame = frame.f_back
    return False


def test_checkout_wait_is_measured_while_the_pool_is_exhausted(small_pool) -> None:
    engine, monitor = small_pool
    held = engine.connect()
    waited: list[float] = []

    def take_a_connection() -> None:
        started = time.perf_counter()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        waited.append(time.perf_counter() - started)

    waiter = threading.Thread(target=take_a_connection)
    waiter.start()
    wait_for(lambda: is_waiting_for_a_connection(waiter), 30, "the second checkout to queue for the connection")
    time.sleep(HOLD_SECONDS)  # the wait being measured: the connection stays taken this long
    held.close()
    waiter.join(30)

    snapshot = monitor.snapshot(engine)
    assert waited and waited[0] >= HOLD_SECONDS
    assert snapshot.wait_max_ms >= HOLD_SECONDS * 1000
    assert snapshot.hold_max_ms >= HOLD_SECONDS * 1000, "the first connection was held while the other waited"
    assert (snapshot.checkouts, snapshot.connections_opened, snapshot.pool_timeouts) == (2, 1, 0)
    assert (snapshot.size, snapshot.max_overflow, snapshot.checked_out, snapshot.idle) == (1, 0, 0, 1)


def test_pool_timeout_and_invalidation_are_counted(database_url: str) -> None:
    with instrumented_pool(database_url, timeout=0.3) as (engine, monitor):
        held = engine.connect()
        with pytest.raises(PoolTimeoutError):
            engine.connect()
        held.invalidate()
        held.close()
        snapshot = monitor.snapshot(engine)
    assert (snapshot.pool_timeouts, snapshot.invalidations) == (1, 1)
    assert snapshot.wait_max_ms >= 300


def test_measurements_survive_engine_dispose(small_pool) -> None:
    engine, monitor = small_pool
    engine.dispose()
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    snapshot = monitor.snapshot(engine)
    assert (snapshot.checkouts, snapshot.wait_count) == (1, 1)
