"""``/metrics`` in Prometheus' text format, for teams that already graph with Prometheus/Grafana.

Off unless ``METRICS_TOKEN`` is set (404, as if absent), then only for ``Authorization: Bearer
<token>``. Any worker answers for all of them: per-worker series come from the shared store,
labelled by host and pid, so scraping through a load balancer still sees every worker.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, request

from webapp.database import utcnow
from webapp.extensions import db
from webapp.monitoring import current_monitoring
from webapp.monitoring.report import PoolOverview, SlowQueryReport, pool_overview, slow_query_report

metrics_blueprint = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (snapshot field, metric name, type, help, scale to Prometheus' base unit)
POOL_SERIES = (
    ("size", "webapp_db_pool_size", "gauge", "Connections the pool keeps open.", 1),
    ("max_overflow", "webapp_db_pool_max_overflow", "gauge", "Extra connections allowed under load.", 1),
    ("checked_out", "webapp_db_pool_checked_out", "gauge", "Connections in use by the app.", 1),
    ("idle", "webapp_db_pool_idle", "gauge", "Open connections waiting in the pool.", 1),
    ("overflow_in_use", "webapp_db_pool_overflow_in_use", "gauge", "Overflow connections open.", 1),
    ("connections_opened", "webapp_db_pool_connections_opened_total", "counter", "Connections opened.", 1),
    ("checkouts", "webapp_db_pool_checkouts_total", "counter", "Connections taken from the pool.", 1),
    ("invalidations", "webapp_db_pool_invalidations_total", "counter", "Connections discarded as broken.", 1),
    ("pool_timeouts", "webapp_db_pool_timeouts_total", "counter", "Checkouts that gave up waiting.", 1),
    (
        "hold_p95_ms",
        "webapp_db_pool_hold_p95_seconds",
        "gauge",
        "95th percentile of how long a connection is held (recent window).",
        0.001,
    ),
    (
        "connect_p95_ms",
        "webapp_db_pool_connect_p95_seconds",
        "gauge",
        "95th percentile of how long opening a new connection takes (recent window).",
        0.001,
    ),
)


def _labels(**labels: object) -> str:
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _header(name: str, kind: str, help_text: str) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"


def _pool_lines(overview: PoolOverview) -> Iterator[str]:
    live = [worker for worker in overview.workers if not worker.stale]
    yield from _header("webapp_db_pool_workers", "gauge", "Worker processes reporting, by state.")
    yield f'webapp_db_pool_workers{{state="live"}} {overview.live_workers}'
    yield f'webapp_db_pool_workers{{state="stale"}} {overview.stale_workers}'
    for field, name, kind, help_text, scale in POOL_SERIES:
        yield from _header(name, kind, help_text)
        for worker in live:
            value = getattr(worker.pool, field)
            if value is not None:
                yield f"{name}{_labels(host=worker.host, pid=worker.pid)} {value * scale}"
    name = "webapp_db_pool_checkout_wait_seconds"
    yield from _header(name, "summary", "Time waiting for a free connection on a full pool (quantiles: recent window).")
    for worker in live:
        pool, labels = worker.pool, {"host": worker.host, "pid": worker.pid}
        for quantile, value in (("0.5", pool.wait_p50_ms), ("0.95", pool.wait_p95_ms)):
            if value is not None:
                yield f"{name}{_labels(**labels, quantile=quantile)} {value / 1000}"
        yield f"{name}_sum{_labels(**labels)} {pool.wait_total_ms / 1000}"
        yield f"{name}_count{_labels(**labels)} {pool.wait_count}"


def _slow_query_lines(report: SlowQueryReport) -> Iterator[str]:
    yield from _header(
        "webapp_slow_queries_total", "counter", f"Statements slower than {report.threshold_ms:g} ms, all workers."
    )
    yield f"webapp_slow_queries_total {report.calls}"
    yield from _header("webapp_slow_query_seconds_total", "counter", "Time spent in those slow statements.")
    yield f"webapp_slow_query_seconds_total {report.total_ms / 1000}"
    yield from _header("webapp_slow_query_fingerprints", "gauge", "Distinct slow statements captured.")
    yield f"webapp_slow_query_fingerprints {report.fingerprints}"


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
            "a valid bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"}, content_type=CONTENT_TYPE
        )
    monitoring, connection = current_monitoring(), db.session.connection()
    overview = pool_overview(monitoring, connection, utcnow())
    slow_queries = slow_query_report(monitoring, connection, limit=0)
    body = "\n".join([*_pool_lines(overview), *_slow_query_lines(slow_queries)]) + "\n"
    return Response(body, content_type=CONTENT_TYPE)
