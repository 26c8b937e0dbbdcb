"""Database health monitoring: connection pools and slow queries of every worker, and the
PostgreSQL server's own statistics, as plain data for the dashboard, its JSON and ``/metrics``
(their views live with the admin's other views and read this package; nothing here imports the admin).

One module per source, after PgHero: ``pool`` and ``slow_queries`` record inside each worker,
``publisher`` writes that to the shared tables of ``store`` (and, elected once per round across
all workers, ``statement_history``); ``pg_statements``, ``pg_activity``, ``table_stats`` and
``database_stats`` ask PostgreSQL; ``plans``, ``index_advice`` and ``backends`` serve the pages
reached from the dashboard; ``findings`` judges the figures against their thresholds, and
``report`` gathers it all for the dashboard and ``/metrics``. ``connection_names`` names every
connection the app opens. Every statement text any of them shows passes through ``sql_text``,
which removes its literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from webapp.extensions import db
from webapp.monitoring import statement_history, store  # noqa: F401  (put their tables on the metadata)
from webapp.monitoring.connection_names import name_connections
from webapp.monitoring.findings import Thresholds
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.publisher import HistorySettings, Publisher
from webapp.monitoring.slow_queries import SlowQueryRecorder


@dataclass(frozen=True)
class Monitoring:
    engine: Engine
    pool: PoolMonitor
    slow_queries: SlowQueryRecorder
    publisher: Publisher
    thresholds: Thresholds
    pgbouncer_admin_url: str | None = None


def register_monitoring(app: Flask) -> Monitoring:
    """Instrument the app's engine; the publisher starts with the first request."""
    with app.app_context():
        engine = db.engine
    name_connections(engine, app.config["APP_HOST"])
    pool = PoolMonitor()
    pool.instrument(engine)
    slow_queries = SlowQueryRecorder(app.config["SLOW_QUERY_MS"])
    slow_queries.instrument(engine)
    history = HistorySettings(
        every=timedelta(seconds=app.config["STATEMENT_HISTORY_INTERVAL_SECONDS"]),
        keep=timedelta(days=app.config["STATEMENT_HISTORY_DAYS"]),
    )
    publisher = Publisher(
        engine, pool, slow_queries, app.config["MONITORING_INTERVAL_SECONDS"], history, app.config["APP_HOST"]
    )
    monitoring = Monitoring(
        engine, pool, slow_queries, publisher, Thresholds.from_config(app.config), app.config["PGBOUNCER_ADMIN_URL"]
    )
    app.extensions["monitoring"] = monitoring
    app.before_request(publisher.ensure_running)
    return monitoring


def current_monitoring() -> Monitoring:
    return current_app.extensions["monitoring"]
