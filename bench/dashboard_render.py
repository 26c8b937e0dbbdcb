"""How long the dashboard takes to render with 10,000 captured fingerprints.

Fills the monitoring tables of a scratch database as a busy site would leave them: 10,000 slow
query fingerprints, 8 workers, and 24 hours of per-minute history for each; on PostgreSQL also
14 days of statement history (a round every 5 minutes, each with the 100 costliest of 10,000
statements, as ``statement_history`` keeps them: ``--steady`` of them the same in every round,
the others each round's next ones of the rest in turn; rounds older than a day rolled up by the
hour). Then a signed-in operator requests the page, its
JSON and the statement history's windows (Flask's test client: the whole request inside the app,
queries and template included, without a network hop), and the median and 95th percentile of
the server-side time are reported.

    python bench/dashboard_render.py postgresql://postgres@127.0.0.1:5432/scratch

It migrates the database and REPLACES the rows of the monitoring_* tables: use a scratch database.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import timedelta

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, func, select, text

from webapp import create_app
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import Operator, OperatorRole
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.slow_queries import SlowQuery
from webapp.monitoring.statement_history import (
    ROLL_UP_AFTER,
    TOP_PER_ROUND,
    StatementDelta,
    StatementHour,
    StatementRound,
    StatementText,
    roll_up,
)
from webapp.monitoring.store import PoolSample, SlowQueryStat, WorkerReport, save_sample, save_slow_queries, save_worker

OPERATOR = "bench-dashboard@example.org"
PASSWORD = "bench-dashboard-password"
WORKERS = 8


def fill_store(app: Flask, fingerprints: int) -> None:
    now = utcnow()
    snapshot = PoolMonitor().snapshot(db.engine)
    captures = [
        SlowQuery(
            f"{n:016x}",
            f"SELECT * FROM table_{n % 97} WHERE column_{n} = ? AND other IN (...)",
            calls=1 + n % 50,
            total_ms=250.0 * (1 + n % 50),
            max_ms=900.0,
            rows=n % 1000,
            first_seen=now - timedelta(days=1),
            last_seen=now,
            request_path=f"/admin/view_{n % 40}/",
        )
        for n in range(fingerprints)
    ]
    with db.engine.begin() as connection:
        for model in (SlowQueryStat, PoolSample, WorkerReport):
            connection.execute(delete(model))
        save_slow_queries(connection, captures)
        for pid in range(1, WORKERS + 1):
            save_worker(connection, "bench-host", pid, now - timedelta(days=1), now, snapshot)
            for minute in range(24 * 60):
                save_sample(
                    connection,
                    "bench-host",
                    pid,
                    now - timedelta(minutes=minute),
                    minute % 7,
                    float(minute % 13),
                    float(minute % 29),
                )


HISTORY_DAYS = 14
ROUND_MINUTES = 5
STATEMENTS = 10_000


def fill_statement_history(steady: int) -> tuple[int, int]:
    """14 days of rounds, each naming 100 of 10,000 statements: ``steady`` of them in every
    round (a site's costliest), the others in turn (PostgreSQL only); then rolled up as the
    elected worker leaves them. The deltas and hourly rows stored."""
    rounds = HISTORY_DAYS * 24 * 60 // ROUND_MINUTES
    with db.engine.begin() as connection:
        for model in (StatementDelta, StatementHour, StatementRound, StatementText):
            connection.execute(delete(model))
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_rounds (captured_at, stats_reset, statements) "
                "SELECT now() - make_interval(mins => n * :minutes), NULL, :top FROM generate_series(1, :rounds) n"
            ),
            {"minutes": ROUND_MINUTES, "top": TOP_PER_ROUND, "rounds": rounds},
        )
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_history (captured_at, queryid, calls, total_ms, rows) "
                "SELECT now() - make_interval(mins => n * :minutes), "
                "CASE WHEN k < :steady THEN k ELSE :steady + (n * 7 + k * 97) % (:statements - :steady) END, "
                "1 + k % 50, (1 + k % 50) * (1.0 + n % 13), k FROM generate_series(1, :rounds) n, "
                "generate_series(0, :top - 1) k"
            ),
            {
                "minutes": ROUND_MINUTES,
                "statements": STATEMENTS,
                "rounds": rounds,
                "top": TOP_PER_ROUND,
                "steady": steady,
            },
        )
        connection.execute(
            text(
                "INSERT INTO monitoring_statement_texts (queryid, fingerprint, query, last_seen) "
                "SELECT q, lpad(to_hex(q), 16, '0'), 'SELECT * FROM table_' || q % 97 || ' WHERE id = $1', now() "
                "FROM generate_series(0, :statements - 1) q"
            ),
            {"statements": STATEMENTS},
        )
        before = connection.scalar(text("SELECT now()")) - ROLL_UP_AFTER
        while connection.scalar(select(func.count()).where(StatementDelta.captured_at < before)):
            roll_up(connection, before)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Rolling 13 days up at once leaves 13 days of dead space behind the day of deltas; the
        # worker rolls a round up per round, and autovacuum lets the next rounds reuse the space.
        connection.execute(text("VACUUM FULL ANALYZE monitoring_statement_history"))
        connection.execute(text("ANALYZE monitoring_statement_hourly"))
        deltas = connection.scalar(select(func.count()).select_from(StatementDelta))
        hours = connection.scalar(select(func.count()).select_from(StatementHour))
    return int(deltas or 0), int(hours or 0)


def ensure_operator() -> None:
    if db.session.scalar(select(func.count()).where(Operator.email == OPERATOR)):
        return
    operator = Operator(email=OPERATOR, role=OperatorRole.VIEWER)
    operator.set_password(PASSWORD)
    db.session.add(operator)
    db.session.commit()


def timed(client, path: str, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of this process per request: on a busy machine the wall time also
    counts waiting for a core (here and in PostgreSQL), the CPU time only the app's own work."""
    client.get(path)  # warm up: templates compiled, statements cached
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        assert response.status_code == 200, response.status_code
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("--fingerprints", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument(
        "--steady", type=int, default=90, help="statements among every round's 100 (0: each round names others)"
    )
    args = parser.parse_args()

    app = create_app(env={"APP_ENV": "testing", "DATABASE_URL": args.database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        ensure_operator()
        fill_store(app, args.fingerprints)
        stored = db.session.scalar(select(func.count()).select_from(SlowQueryStat))
        postgres = db.engine.dialect.name == "postgresql"
        deltas, hours = fill_statement_history(args.steady) if postgres else (0, 0)
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    if token is None:
        raise SystemExit("no CSRF token on the sign-in page")
    client.post("/login", data={"email": OPERATOR, "password": PASSWORD, "csrf_token": token.group(1)})

    print(
        f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: {stored:,} fingerprints, {WORKERS} workers, "
        f"24 h of per-minute samples each; statement history: {deltas:,} deltas and {hours:,} hourly rows "
        f"({args.steady} steady statements per round); "
        f"{args.repeats} requests per line"
    )
    history_pages = [f"/admin/dashboard/statements?window={window}" for window in ("1h", "24h", "7d")]
    for path in (
        "/admin/dashboard/",
        "/admin/dashboard/data.json",
        "/admin/dashboard/?hours=24",
        "/admin/dashboard/data.json?hours=24",
        *(history_pages if postgres else []),
    ):
        walls, cpus = timed(client, path, args.repeats)
        walls.sort()
        p95 = walls[max(0, round(0.95 * len(walls)) - 1)]
        print(
            f"  {path:38} median {statistics.median(walls) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   "
            f"CPU median {statistics.median(cpus) * 1000:5.1f} ms"
        )
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
