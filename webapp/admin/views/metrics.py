"""``/metrics`` in Prometheus' text format, for teams that already graph with Prometheus/Grafana.

Off unless ``METRICS_TOKEN`` is set (404, as if absent), then only for ``Authorization: Bearer
<token>``. Any worker of a host answers for every worker of that host (``APP_HOST``): per-worker
series come from the shared store, labelled by host and pid. Prometheus scrapes each host as a
target of its own, so the series of all targets add up to the dashboard's totals, and a host that
dies is a target down (``up == 0``) whose series go stale, as Prometheus marks any target's. The
database-wide series (slow statements, tables, the database) are the same on every host.

Durations are histograms with the same buckets on every worker (``pool.BUCKETS_SECONDS``), never
quantiles, so ``histogram_quantile(0.95, sum by (le) (rate(…_bucket[5m])))`` is the p95 across all
workers and hosts. The exposition is written by ``prometheus_client`` from a collector built per
scrape over the report; each database panel it reads fails alone (``webapp_monitoring_panel_up``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from webapp import database_limits
from webapp.database import utcnow
from webapp.extensions import db
from webapp.monitoring import current_monitoring
from webapp.monitoring.database_stats import DatabaseReport, database_report
from webapp.monitoring.pool import HistogramCounts
from webapp.monitoring.report import (
    PanelError,
    PanelReader,
    PoolOverview,
    SlowQueryReport,
    WorkerStatus,
    pool_overview,
    slow_query_report,
)
from webapp.monitoring.table_stats import TableReport, table_report

metrics_blueprint = Blueprint("metrics", __name__)

WORKER_LABELS = ("host", "pid")

# (snapshot field, metric name without the type's suffix, help)
POOL_GAUGES = (
    ("size", "webapp_db_pool_min_connections", "Connections the pool keeps open once opened (QueuePool's size)."),
    ("max_connections", "webapp_db_pool_max_connections", "Connections the pool may open: size plus overflow."),
    ("max_overflow", "webapp_db_pool_max_overflow", "Extra connections allowed under load."),
    ("checked_out", "webapp_db_pool_checked_out", "Connections in use by the app (active)."),
    ("idle", "webapp_db_pool_idle", "Open connections waiting in the pool."),
    ("pending", "webapp_db_pool_pending", "Requests waiting for a connection right now."),
    ("overflow_in_use", "webapp_db_pool_overflow_in_use", "Overflow connections open."),
)
POOL_COUNTERS = (
    ("connections_opened", "webapp_db_pool_connections_opened", "Connections opened."),
    ("checkouts", "webapp_db_pool_checkouts", "Connections taken from the pool."),
    ("invalidations", "webapp_db_pool_invalidations", "Connections discarded as broken."),
    ("pool_timeouts", "webapp_db_pool_timeouts", "Checkouts that gave up waiting (DB_POOL_TIMEOUT)."),
)
POOL_HISTOGRAMS = (
    ("acquire", "webapp_db_pool_acquire_seconds", "Time waiting for a free connection on a full pool (0 if free)."),
    ("usage", "webapp_db_pool_usage_seconds", "Time a connection was held, checkout to checkin."),
    ("creation", "webapp_db_pool_creation_seconds", "Time opening a new database connection took."),
)


@dataclass(frozen=True)
class Scrape:
    """What one scrape read; each database part may have failed alone."""

    pool: PoolOverview | PanelError
    slow_queries: SlowQueryReport | PanelError
    tables: TableReport | PanelError | None
    database: DatabaseReport | PanelError | None


class ReportCollector(Collector):
    """Turns one scrape into metric families; registered on a registry of its own per request."""

    def __init__(self, scrape: Scrape, host: str) -> None:
        self.scrape = scrape
        self.host = host

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("webapp_monitoring_panel_up", "1 if this part could be read.", labels=["panel"])
        for panel in ("pool", "slow_queries", "tables", "database"):
            value = getattr(self.scrape, panel)
            if value is not None:
                up.add_metric([panel], 0.0 if isinstance(value, PanelError) else 1.0)
        yield up
        if isinstance(self.scrape.pool, PoolOverview):
            yield from pool_families(self.scrape.pool, self.host)
        if isinstance(self.scrape.slow_queries, SlowQueryReport):
            yield from slow_query_families(self.scrape.slow_queries)
        if isinstance(self.scrape.tables, TableReport):
            yield from table_families(self.scrape.tables)
        if isinstance(self.scrape.database, DatabaseReport):
            yield from database_families(self.scrape.database)


def _worker_labels(worker: WorkerStatus) -> list[str]:
    return [worker.host, str(worker.pid)]


def _histogram_buckets(counts: HistogramCounts) -> list[tuple[str, float]]:
    return [("+Inf" if bound == float("inf") else repr(bound), running) for bound, running in counts.cumulative()]


def pool_families(overview: PoolOverview, host: str) -> Iterator[Metric]:
    """The series of ``host``'s workers: another host's are that host's target's."""
    hosts_workers = [worker for worker in overview.workers if worker.host == host]
    live = [worker for worker in hosts_workers if not worker.stale]
    workers = GaugeMetricFamily(
        "webapp_db_pool_workers", "Worker processes of this host reporting, by state.", labels=["state"]
    )
    workers.add_metric(["live"], len(live))
    workers.add_metric(["stale"], len(hosts_workers) - len(live))
    yield workers
    for field, name, help_text in POOL_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=WORKER_LABELS)
        for worker in live:
            if (value := getattr(worker.pool, field)) is not None:
                gauge.add_metric(_worker_labels(worker), value)
        yield gauge
    for field, name, help_text in POOL_COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=WORKER_LABELS)
        for worker in live:
            counter.add_metric(_worker_labels(worker), getattr(worker.pool, field) or 0)
        yield counter
    for field, name, help_text in POOL_HISTOGRAMS:
        histogram = HistogramMetricFamily(name, help_text, labels=WORKER_LABELS)
        for worker in live:
            counts: HistogramCounts | None = getattr(worker.pool, field)
            if counts is not None:
                histogram.add_metric(_worker_labels(worker), _histogram_buckets(counts), counts.sum_seconds)
        yield histogram


def slow_query_families(report: SlowQueryReport) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "webapp_slow_queries", f"Statements slower than {report.threshold_ms:g} ms, all workers.", report.calls
    )
    yield CounterMetricFamily(
        "webapp_slow_query_seconds", "Time spent in those slow statements.", report.total_ms / 1000
    )
    yield GaugeMetricFamily("webapp_slow_query_fingerprints", "Distinct slow statements captured.", report.fingerprints)


def table_families(report: TableReport) -> Iterator[Metric]:
    dead = GaugeMetricFamily("webapp_db_table_dead_rows", "Dead rows awaiting vacuum.", labels=["table"])
    ratio = GaugeMetricFamily("webapp_db_table_dead_ratio", "Dead rows among all rows (0 to 1).", labels=["table"])
    for table in report.tables:
        dead.add_metric([table.name], table.dead_rows)
        ratio.add_metric([table.name], table.dead_ratio or 0.0)
    yield dead
    yield ratio


def database_families(report: DatabaseReport) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "webapp_db_transaction_id_age", "Age of the oldest unfrozen transaction ID (wraparound).", report.wraparound_age
    )
    yield GaugeMetricFamily("webapp_db_size_bytes", "Size of this database.", report.size_bytes)
    sequences = GaugeMetricFamily(
        "webapp_db_sequence_used_ratio", "Share of a sequence's range used (0 to 1).", labels=["sequence"]
    )
    for sequence in report.sequences:
        sequences.add_metric([sequence.name], sequence.used_ratio)
    yield sequences


def read_scrape() -> Scrape:
    monitoring = current_monitoring()
    panels = PanelReader(db.session)
    return Scrape(
        pool=panels.read(lambda connection: pool_overview(monitoring, connection, utcnow())),
        slow_queries=panels.read(lambda connection: slow_query_report(monitoring, connection, limit=0)),
        tables=panels.postgres(table_report),
        database=panels.postgres(database_report),
    )


def _authorized(token: str) -> bool:
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    if token is None:
        abort(404)
    if not _authorized(token):
        return Response(
            "a valid bearer token is required\n",
            401,
            {"WWW-Authenticate": "Bearer"},
            content_type=CONTENT_TYPE_PLAIN_0_0_4,
        )
    database_limits.use_limits(database_limits.dashboard_limits())
    registry = CollectorRegistry()
    registry.register(ReportCollector(read_scrape(), current_monitoring().publisher.host))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
