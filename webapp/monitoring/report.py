"""Gathers every source into one report: the dashboard page, its JSON and ``/metrics`` all render it.

The serving worker's own pool comes from memory (current to the moment); every other worker's
from the shared store. Each panel that reads the database fails alone (``PanelReader``): it is
shown as unavailable with its reason and the others still render.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

from webapp.database import REPLICA_READS, utcnow
from webapp.monitoring import Monitoring, statement_history, store
from webapp.monitoring.database_stats import DatabaseReport, database_report
from webapp.monitoring.findings import Finding, Thresholds, pool_findings, server_findings
from webapp.monitoring.pg_activity import ActivityReport, activity_report
from webapp.monitoring.pg_statements import StatementsReport, reset_statements, statements_report
from webapp.monitoring.pgbouncer import PgBouncerReport, PgBouncerUnreachable, pgbouncer_report
from webapp.monitoring.pool import HISTOGRAM_FIELDS, HistogramCounts, PoolSnapshot
from webapp.monitoring.sql_text import safe_text
from webapp.monitoring.table_stats import TableReport, table_report
from webapp.read_replica import current_replica

logger = logging.getLogger(__name__)

HISTORY_RANGES = {1: 1, 6: 5, 24: 15}  # hours shown -> minutes per chart point
SLOW_QUERIES_SHOWN = 50
MAX_REASON_CHARS = 200
SUMMED = (
    "size",
    "max_overflow",
    "max_connections",
    "checked_out",
    "idle",
    "pending",
    "overflow_in_use",
    "connections_opened",
    "checkouts",
    "invalidations",
    "pool_timeouts",
    "wait_count",
    "wait_total_ms",
)
TIMING_NAMES = {
    "acquire": "Acquire: waiting for a free connection",
    "usage": "Usage: connection held",
    "creation": "Creation: opening a connection",
}
WORST = (
    "wait_p50_ms",
    "wait_p95_ms",
    "wait_max_ms",
    "hold_p50_ms",
    "hold_p95_ms",
    "hold_max_ms",
    "connect_p95_ms",
    "connect_max_ms",
)

T = TypeVar("T")
# The request's Flask-SQLAlchemy session, or a plain one (tools, tests).
AnySession = Session | scoped_session[Any]


@dataclass(frozen=True)
class WorkerStatus:
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    stale: bool
    serving_this_page: bool
    pool: PoolSnapshot


@dataclass(frozen=True)
class HistogramSummary:
    """A histogram of every live worker summed, since each started: percentiles from the buckets."""

    timing: str
    name: str
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, timing: str, counts: HistogramCounts) -> HistogramSummary:
        mean = counts.sum_seconds * 1000.0 / counts.count if counts.count else None
        quantiles = (counts.quantile_ms(0.50), counts.quantile_ms(0.95), counts.quantile_ms(0.99))
        return cls(timing, TIMING_NAMES[timing], counts.count, mean, *quantiles)


@dataclass(frozen=True)
class PoolOverview:
    """Live workers summed (window percentiles: the worst worker's; histograms: added up), and a
    row per worker."""

    live_workers: int
    stale_workers: int
    capacity: int | None
    totals: dict[str, float | int | None]
    histograms: list[HistogramSummary]
    workers: list[WorkerStatus]
    stale_after_seconds: float


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    checked_out: int
    wait_p95_ms: float
    wait_max_ms: float
    slow_calls: int
    slow_ms: float


@dataclass(frozen=True)
class History:
    hours: int
    minutes_per_point: int
    since: datetime
    points: list[HistoryPoint]


@dataclass(frozen=True)
class SlowQueryRow:
    fingerprint: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int
    first_seen: datetime
    last_seen: datetime
    request_path: str


@dataclass(frozen=True)
class SlowQueryReport:
    threshold_ms: float
    fingerprints: int
    calls: int
    total_ms: float
    top: list[SlowQueryRow]


@dataclass(frozen=True)
class PanelError:
    """A panel the database could not fill (missing privilege or table, lost connection…): shown
    as unavailable with this reason, while the other panels render."""

    error: str


@dataclass(frozen=True)
class DashboardReport:
    generated_at: datetime
    database: str
    refresh_seconds: int
    hours: int
    findings: list[Finding]
    pool: PoolOverview | PanelError
    history: History | PanelError
    slow_queries: SlowQueryReport | PanelError
    statements: StatementsReport | PanelError | None
    activity: ActivityReport | PanelError | None
    tables: TableReport | PanelError | None
    database_figures: DatabaseReport | PanelError | None
    pgbouncer: PgBouncerReport | PanelError | None
    replica: ReplicaPanel | None
    replica_statements: StatementsReport | PanelError | None


def _total(values: list[Any], combine: Callable[[list[Any]], Any]) -> Any:
    present = [value for value in values if value is not None]
    return combine(present) if present else None


def pool_overview(monitoring: Monitoring, connection: Connection, now: datetime) -> PoolOverview:
    publisher = monitoring.publisher
    stored = store.load_workers(connection, seen_since=now - publisher.drop_after)
    workers = [
        WorkerStatus(
            worker.host,
            worker.pid,
            worker.started_at,
            worker.last_seen,
            stale=now - worker.last_seen > publisher.stale_after,
            serving_this_page=False,
            pool=worker.pool,
        )
        for worker in stored
        if (worker.host, worker.pid) != (publisher.host, publisher.pid)
    ]
    workers.append(
        WorkerStatus(
            publisher.host,
            publisher.pid,
            publisher.started_at,
            now,
            stale=False,
            serving_this_page=True,
            pool=monitoring.pool.snapshot(monitoring.engine),
        )
    )
    workers.sort(key=lambda worker: (worker.stale, worker.host, worker.pid))
    live = [worker.pool for worker in workers if not worker.stale]
    totals = {name: _total([getattr(pool, name) for pool in live], sum) for name in SUMMED}
    totals |= {name: _total([getattr(pool, name) for pool in live], max) for name in WORST}
    size, overflow = totals["size"], totals["max_overflow"]
    return PoolOverview(
        live_workers=len(live),
        stale_workers=len(workers) - len(live),
        capacity=None if size is None else size + (overflow or 0),
        totals=totals,
        histograms=[HistogramSummary.of(name, summed_histogram(live, name)) for name in HISTOGRAM_FIELDS],
        workers=workers,
        stale_after_seconds=publisher.stale_after.total_seconds(),
    )


def summed_histogram(pools: list[PoolSnapshot], name: str) -> HistogramCounts:
    """One histogram of every pool given (workers of an older release, without one, add nothing)."""
    summed = HistogramCounts()
    for pool in pools:
        counts: HistogramCounts | None = getattr(pool, name)
        if counts is not None:
            summed = summed.plus(counts)
    return summed


def history(connection: Connection, now: datetime, hours: int) -> History:
    """Per-minute samples folded into chart points, keeping each point's worst minute (slow
    statements: their sum over the point's minutes)."""
    minutes_per_point = HISTORY_RANGES[hours]
    since = now - timedelta(hours=hours)
    buckets: dict[int, store.HistoryPoint] = {}
    for sample in store.load_history(connection, since):
        bucket = sample.minute - sample.minute % minutes_per_point
        known = buckets.get(bucket)
        buckets[bucket] = (
            sample
            if known is None
            else store.HistoryPoint(
                bucket,
                max(known.checked_out, sample.checked_out),
                max(known.wait_p95_ms, sample.wait_p95_ms),
                max(known.wait_max_ms, sample.wait_max_ms),
                known.slow_calls + sample.slow_calls,
                known.slow_ms + sample.slow_ms,
            )
        )
    points = [
        HistoryPoint(
            datetime.fromtimestamp(bucket * 60, UTC),
            point.checked_out,
            point.wait_p95_ms,
            point.wait_max_ms,
            point.slow_calls,
            point.slow_ms,
        )
        for bucket, point in sorted(buckets.items())
    ]
    return History(hours, minutes_per_point, since, points)


def slow_query_report(
    monitoring: Monitoring, connection: Connection, limit: int = SLOW_QUERIES_SHOWN
) -> SlowQueryReport:
    top, totals = store.load_slow_queries(connection, limit)
    return SlowQueryReport(
        threshold_ms=monitoring.slow_queries.threshold_ms,
        fingerprints=totals.fingerprints,
        calls=totals.calls,
        total_ms=totals.total_ms,
        # Normalized again on the way out (once per text and worker: ``safe_text`` keeps them):
        # rows stored by an earlier release kept whatever literals its hand-written normalizer missed.
        top=[
            SlowQueryRow(**(_fields(query) | {"query": safe_text(query.query), "mean_ms": query.mean_ms}))
            for query in top
        ],
    )


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields, not copied (``dataclasses.asdict`` deep-copies every value)."""
    return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}


def _panel_error(error: SQLAlchemyError) -> PanelError:
    cause = getattr(error, "orig", None) or error
    return PanelError(str(cause).strip().partition("\n")[0][:MAX_REASON_CHARS])


class PanelReader:
    """Reads each panel in the request's transaction, so that one that fails (a missing privilege
    or table, a statement cancelled) is shown as unavailable while the others render.

    A failed statement leaves the transaction unusable; the reader rolls it back and the next
    panel reads in a new one (which gets the request's limits as any transaction does:
    ``database_limits``). Panels only read, so nothing is lost; a savepoint per panel would do the
    same for two more round trips each, which on a busy server cost more than the page's queries.
    A caller that wrote before reading a panel commits first. A failure that took the connection
    with it (the server ended it) gives the next panel a fresh connection. Once no connection
    can be had, the remaining panels say so at once instead of each waiting for one.
    """

    def __init__(self, session: AnySession) -> None:
        self.session = session
        self._unreachable: PanelError | None = None

    def read(self, read: Callable[[Connection], T]) -> T | PanelError:
        if self._unreachable is not None:
            return self._unreachable
        try:
            connection = self.session.connection()
        except SQLAlchemyError as error:
            logger.warning("no connection for the database health panels", exc_info=True)
            self._unreachable = _panel_error(error)
            return self._unreachable
        try:
            return read(connection)
        except SQLAlchemyError as error:
            logger.warning("a database health panel could not be read", exc_info=True)
            self.session.rollback()
            return _panel_error(error)

    def stored(self, read: Callable[[Connection], T]) -> T | PanelError:
        """A panel of figures the workers stored (the history, the captured statements): on the
        replica when the request reads there (``webapp.read_replica``), which takes the heaviest
        of the dashboard's reads off the primary. A replica failing mid-read gives way to the
        primary. The workers' live state and the server's statistics are the primary's own."""
        replica = self.session.info.get(REPLICA_READS)
        if replica is not None:
            try:
                with replica.connect() as connection:
                    return read(connection)
            except SQLAlchemyError:
                logger.warning("the replica could not serve a database health panel", exc_info=True)
        return self.read(read)

    def postgres(self, read: Callable[[Connection], T]) -> T | PanelError | None:
        """A PostgreSQL-only panel: ``None`` on other databases."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        return self.read(read)


def build_report(monitoring: Monitoring, session: AnySession, refresh_seconds: int, hours: int) -> DashboardReport:
    """Read on the request's own session: the dashboard matters most when the pool is exhausted,
    and should not need a second connection then."""
    now = utcnow()
    panels = PanelReader(session)
    figures = _finding_figures(monitoring, panels, now)
    return DashboardReport(
        generated_at=now,
        database=session.get_bind().dialect.name,
        refresh_seconds=refresh_seconds,
        hours=hours,
        findings=figures.findings(monitoring.thresholds),
        pool=figures.pool,
        history=panels.stored(lambda connection: history(connection, now, hours)),
        slow_queries=panels.stored(lambda connection: slow_query_report(monitoring, connection)),
        statements=figures.statements,
        activity=figures.activity,
        tables=figures.tables,
        database_figures=figures.database,
        pgbouncer=pgbouncer_panel(monitoring.pgbouncer_admin_url),
        replica=replica_panel(),
        replica_statements=replica_statements(),
    )


REPLICA_IN_USE = "list pages, counts, exports and the dashboard's history read there"


@dataclass(frozen=True)
class ReplicaPanel:
    """The read replica as this worker last found it (``webapp.read_replica``)."""

    in_use: bool
    lag_seconds: float | None
    max_lag_seconds: float
    status: str


def replica_statements() -> StatementsReport | PanelError | None:
    """pg_stat_statements of the replica, which counts the statements run there only (the
    primary's panel counts the primary's): read on a connection to it, when it is configured."""
    replica = current_replica()
    if replica is None:
        return None
    try:
        with replica.engine.connect() as connection:
            return statements_report(connection)
    except SQLAlchemyError as error:
        return _panel_error(error)


def replica_panel() -> ReplicaPanel | None:
    replica = current_replica()
    if replica is None:
        return None
    state = replica.state()
    status = (
        "list pages, counts, exports and the dashboard's history read there"
        if state.usable
        else f"not used: {state.reason}"
    )
    return ReplicaPanel(state.usable, state.lag_seconds, state.max_lag_seconds, status)


def pgbouncer_panel(admin_url: str | None) -> PgBouncerReport | PanelError | None:
    """PgBouncer's pools when ``PGBOUNCER_ADMIN_URL`` is set; unreachable, the reason alone."""
    if admin_url is None:
        return None
    url = make_url(admin_url)
    try:
        return pgbouncer_report(admin_url, f"{url.host}:{url.port or 5432}")
    except PgBouncerUnreachable as error:
        logger.warning("PgBouncer's pool figures could not be read: %s", error)
        return PanelError(str(error)[:MAX_REASON_CHARS])


def current_findings(monitoring: Monitoring, session: AnySession) -> list[Finding]:
    """The dashboard's findings alone (the admin home page's): only the panels they are made from
    are read, not the history or the captured statements."""
    return _finding_figures(monitoring, PanelReader(session), utcnow()).findings(monitoring.thresholds)


@dataclass(frozen=True)
class _FindingFigures:
    """The panels the findings are made from, each read or failed alone."""

    pool: PoolOverview | PanelError
    activity: ActivityReport | PanelError | None
    statements: StatementsReport | PanelError | None
    tables: TableReport | PanelError | None
    database: DatabaseReport | PanelError | None

    def findings(self, thresholds: Thresholds) -> list[Finding]:
        found = [] if isinstance(self.pool, PanelError) else list(pool_findings(self.pool, thresholds))
        return found + list(server_findings(self.activity, self.statements, self.tables, self.database, thresholds))


def _finding_figures(monitoring: Monitoring, panels: PanelReader, now: datetime) -> _FindingFigures:
    long_running_seconds = monitoring.thresholds.long_running_seconds
    return _FindingFigures(
        pool=panels.read(lambda connection: pool_overview(monitoring, connection, now)),
        activity=panels.postgres(lambda connection: activity_report(connection, long_running_seconds)),
        statements=panels.postgres(statements_report),
        tables=panels.postgres(table_report),
        database=panels.postgres(database_report),
    )


def reset_statistics(monitoring: Monitoring, connection: Connection) -> list[str]:
    """Forget every worker's figures and captures (and the server's statement statistics).

    The caller commits; the publisher's lock keeps this worker's own round from interleaving.
    """
    with monitoring.publisher.lock:
        store.reset(connection)
        monitoring.pool.reset()
        monitoring.slow_queries.clear()
        monitoring.publisher.forget_published_row()
    outcome = ["Pool counters, history and slow queries of every worker were reset."]
    if connection.dialect.name == "postgresql":
        outcome.append(reset_statements(connection))
        # The stored statement history stays: that is what it is for. Counting restarts from zero.
        statement_history.forget_baselines(connection)
    return outcome


SCALARS = (str, int, float, type(None))


def as_data(value: Any) -> Any:
    """The report as JSON-ready data: dataclasses become dicts, times ISO 8601 strings."""
    if isinstance(value, SCALARS):
        return value  # most values: answered first
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: as_data(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_data(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
