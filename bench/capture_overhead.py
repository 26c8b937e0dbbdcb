"""Per-statement cost of the monitoring instrumentation on a query-heavy loop.

Two engines on the same database, identical but for the instrumentation (pool events, the
checkout timer and the slow-query cursor events, with the production threshold so that, as in
real traffic, almost nothing is slow). Each "request" checks out a connection and runs a batch
of primary-key lookups. Short rounds alternate between the engines so that drift in the machine's
load hits both alike.

Two figures per database. Wall time is what a request feels, but on a shared machine it is noisy.
The instrumentation adds no round trip, only CPU in this process, so the added process CPU time
per statement (immune to other processes' load) divided by the uninstrumented wall time per
statement is the steadier estimate of the overhead. The same loop also runs on an in-memory SQLite
database, where a statement is a few microseconds of CPU: the worst case in relative terms.

    python bench/capture_overhead.py postgresql://postgres@127.0.0.1:5432/scratch

Creates and drops a table named bench_capture_overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from webapp.config import normalize_database_url
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.slow_queries import SlowQueryRecorder

TABLE = "bench_capture_overhead"
ROWS = 1_000
VARIANTS = ("off", "bare listeners", "on")
LOOKUP = text(f"SELECT id, title FROM {TABLE} WHERE id = :id")


def _pass_through(conn: object, cursor: object, statement: str, parameters: object, *rest: object) -> tuple:
    return statement, parameters


def _ignore(*args: object) -> None:
    return None


def make_engine(url: str, variant: str) -> Engine:
    """``off``; ``on`` (the app's instrumentation); ``bare listeners``: cursor listeners doing
    nothing, to tell SQLAlchemy's own cost of having cursor events from ours."""
    # In-memory SQLite keeps one connection per thread (and per engine: each its own database).
    pooling = {} if url == "sqlite://" else {"pool_size": 5, "max_overflow": 10}
    engine = create_engine(url, pool_pre_ping=True, **pooling)
    if variant == "on":
        PoolMonitor().instrument(engine)
        SlowQueryRecorder(threshold_ms=200).instrument(engine)
    elif variant == "bare listeners":
        event.listen(engine, "before_cursor_execute", _pass_through, retval=True)
        event.listen(engine, "after_cursor_execute", _ignore)
    return engine


def prepare(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        connection.execute(text(f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, title varchar(100) NOT NULL)"))
        connection.execute(
            text(f"INSERT INTO {TABLE} (id, title) VALUES (:id, :title)"),
            [{"id": n, "title": f"item {n}"} for n in range(ROWS)],
        )


def one_round(engine: Engine, requests: int, statements_per_request: int) -> tuple[float, float]:
    """Wall and process CPU seconds per statement, over ``requests`` checkouts of lookups."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for request in range(requests):
        with engine.connect() as connection:
            for n in range(statements_per_request):
                connection.execute(LOOKUP, {"id": (request * statements_per_request + n) % ROWS}).one()
    statements = requests * statements_per_request
    return (time.perf_counter() - started) / statements, (time.process_time() - cpu_started) / statements


def compare(url: str, rounds: int, requests: int, statements_per_request: int) -> dict[str, dict[str, float]]:
    engines = {variant: make_engine(url, variant) for variant in VARIANTS}
    for engine in engines.values():
        prepare(engine)
    try:
        for engine in engines.values():  # warm up: connections open, statements compiled and cached
            one_round(engine, 20, statements_per_request)
        timings: dict[str, list[tuple[float, float]]] = {variant: [] for variant in VARIANTS}
        for _ in range(rounds):
            for name, engine in engines.items():
                timings[name].append(one_round(engine, requests, statements_per_request))
    finally:
        for engine in engines.values():
            with engine.begin() as connection:
                connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
            engine.dispose()
    wall = {name: statistics.median(wall for wall, _ in rounds_) for name, rounds_ in timings.items()}
    cpu = {name: statistics.median(cpu for _, cpu in rounds_) for name, rounds_ in timings.items()}
    return {"wall": wall, "cpu": cpu}


def report(label: str, result: dict[str, dict[str, float]]) -> None:
    wall, cpu = result["wall"], result["cpu"]
    print(f"{label}: per statement, median of rounds")
    for variant in VARIANTS:
        added_cpu = cpu[variant] - cpu["off"]
        print(
            f"  {variant:15} wall {wall[variant] * 1e6:7.1f} µs ({wall[variant] / wall['off'] - 1:+6.1%})   "
            f"CPU {cpu[variant] * 1e6:7.1f} µs (+{added_cpu * 1e6:5.1f} µs = {added_cpu / wall['off']:+6.1%} "
            "of the uninstrumented wall time)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--statements-per-request", type=int, default=10)
    args = parser.parse_args()

    per_variant = args.rounds * args.requests * args.statements_per_request
    print(
        f"{per_variant:,} statements per variant, {args.rounds} alternating rounds, "
        f"{args.statements_per_request} statements per checkout"
    )
    report(
        make_url(normalize_database_url(args.database_url)).get_backend_name(),
        compare(normalize_database_url(args.database_url), args.rounds, args.requests, args.statements_per_request),
    )
    # One connection, so every checkout sees the same in-memory database.
    report(
        "sqlite in memory (CPU only)", compare("sqlite://", args.rounds, args.requests * 4, args.statements_per_request)
    )


if __name__ == "__main__":
    main()
