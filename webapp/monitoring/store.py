"""The shared store: tables in the app's own database where every worker publishes its figures.

Each gunicorn worker has its own pool and its own captures; the dashboard, served by any one
worker, reads them all from here. Writes are set-based upserts (``INSERT … ON CONFLICT``, which
PostgreSQL and SQLite both speak), sorted by key so that workers writing the same rows at once
take their locks in the same order. Timestamps come from the workers' clocks, so hosts must keep
time (NTP) for "last seen" to mean the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Float, Index, String, Table, Text, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.monitoring.pool import PoolSnapshot
from webapp.monitoring.slow_queries import SlowQuery

HISTORY = timedelta(hours=24)
UPSERT_CHUNK = 500


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class WorkerReport(db.Model):  # type: ignore[name-defined]
    """The latest pool snapshot of one worker process."""

    __tablename__ = "monitoring_workers"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    # Not indexed on purpose: every worker rewrites its row every round, and without an index on
    # the changing columns PostgreSQL updates in place (HOT) instead of leaving dead rows behind.
    last_seen: Mapped[datetime] = mapped_column(nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class PoolSample(db.Model):  # type: ignore[name-defined]
    """One worker's busiest moment within one minute: the history behind the charts."""

    __tablename__ = "monitoring_pool_samples"

    # Minutes since the Unix epoch: buckets group by integer division on any database.
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    checked_out_peak: Mapped[int] = mapped_column(nullable=False)
    wait_p95_ms: Mapped[float] = mapped_column(Float, nullable=False)
    wait_max_ms: Mapped[float] = mapped_column(Float, nullable=False)
    # Statements slower than SLOW_QUERY_MS that the worker published in this minute: the chart of
    # app-side slow statements over time.
    slow_calls: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    slow_ms: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class SlowQueryStat(db.Model):  # type: ignore[name-defined]
    """A slow statement's fingerprint aggregated over every worker (never its parameter values)."""

    __tablename__ = "monitoring_slow_queries"

    fingerprint: Mapped[str] = mapped_column(String(16), primary_key=True)
    query: Mapped[str] = mapped_column(Text, nullable=False)
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    max_ms: Mapped[float] = mapped_column(Float, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_seen: Mapped[datetime] = mapped_column(nullable=False)
    last_seen: Mapped[datetime] = mapped_column(nullable=False)
    request_path: Mapped[str] = mapped_column(String(255), nullable=False)

    __table_args__ = (Index("ix_monitoring_slow_queries_total_ms", "total_ms"),)


def epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _greatest(current: ColumnElement[Any], incoming: ColumnElement[Any]) -> ColumnElement[Any]:
    # GREATEST is PostgreSQL-only and SQLite's two-argument max() is not PostgreSQL: CASE is both.
    return case((current >= incoming, current), else_=incoming)


Merge = Callable[[Any, Any], ColumnElement[Any]]


def _upsert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], merge: dict[str, Merge]) -> None:
    """Insert rows, or combine them into existing ones with ``merge[column](current, incoming)``."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    keys = [column.name for column in table.primary_key.columns]
    for start in range(0, len(rows), UPSERT_CHUNK):
        statement = dialect.insert(table).values(list(rows[start : start + UPSERT_CHUNK]))
        statement = statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: combine(table.c[name], statement.excluded[name]) for name, combine in merge.items()},
        )
        connection.execute(statement)


def _added(current: Any, incoming: Any) -> ColumnElement[Any]:
    return current + incoming


def _incoming(current: Any, incoming: Any) -> ColumnElement[Any]:
    return incoming


def worker_exists(connection: Connection, host: str, pid: int) -> bool:
    table = WorkerReport.__table__
    return connection.scalar(select(table.c.pid).where(table.c.host == host, table.c.pid == pid)) is not None


def save_worker(
    connection: Connection, host: str, pid: int, started_at: datetime, now: datetime, snapshot: PoolSnapshot
) -> None:
    _upsert(
        connection,
        WorkerReport.__table__,
        [{"host": host, "pid": pid, "started_at": started_at, "last_seen": now, "snapshot": asdict(snapshot)}],
        {"started_at": _incoming, "last_seen": _incoming, "snapshot": _incoming},
    )


def forget_worker(connection: Connection, host: str, pid: int) -> None:
    table = WorkerReport.__table__
    connection.execute(delete(table).where(table.c.host == host, table.c.pid == pid))


def save_sample(
    connection: Connection,
    host: str,
    pid: int,
    now: datetime,
    checked_out_peak: int,
    wait_p95_ms: float,
    wait_max_ms: float,
    slow_calls: int = 0,
    slow_ms: float = 0.0,
) -> None:
    row = {
        "minute": epoch_minute(now),
        "host": host,
        "pid": pid,
        "checked_out_peak": checked_out_peak,
        "wait_p95_ms": wait_p95_ms,
        "wait_max_ms": wait_max_ms,
        "slow_calls": slow_calls,
        "slow_ms": slow_ms,
    }
    merge: dict[str, Merge] = {name: _greatest for name in ("checked_out_peak", "wait_p95_ms", "wait_max_ms")}
    _upsert(connection, PoolSample.__table__, [row], merge | {"slow_calls": _added, "slow_ms": _added})


def save_slow_queries(connection: Connection, captures: Sequence[SlowQuery]) -> None:
    rows = [
        {
            "fingerprint": capture.fingerprint,
            "query": capture.query,
            "calls": capture.calls,
            "total_ms": capture.total_ms,
            "max_ms": capture.max_ms,
            "rows": capture.rows,
            "first_seen": capture.first_seen,
            "last_seen": capture.last_seen,
            "request_path": capture.request_path,
        }
        for capture in captures
    ]
    _upsert(
        connection,
        SlowQueryStat.__table__,
        rows,
        {
            "calls": _added,
            "total_ms": _added,
            "rows": _added,
            "max_ms": _greatest,
            "last_seen": _greatest,
            "request_path": _incoming,
        },
    )


def prune(connection: Connection, now: datetime, drop_workers_before: datetime) -> None:
    """Forget workers gone silent long ago and history older than ``HISTORY``."""
    workers, samples = WorkerReport.__table__, PoolSample.__table__
    connection.execute(delete(workers).where(workers.c.last_seen < drop_workers_before))
    connection.execute(delete(samples).where(samples.c.minute < epoch_minute(now - HISTORY)))


def reset(connection: Connection) -> None:
    """Empty every table: workers notice their row is gone and start their counters afresh."""
    for model in (SlowQueryStat, PoolSample, WorkerReport):
        connection.execute(delete(model.__table__))


@dataclass(frozen=True)
class StoredWorker:
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    pool: PoolSnapshot


def load_workers(connection: Connection, seen_since: datetime) -> list[StoredWorker]:
    table = WorkerReport.__table__
    rows = connection.execute(select(table).where(table.c.last_seen >= seen_since).order_by(table.c.host, table.c.pid))
    return [
        StoredWorker(row.host, row.pid, row.started_at, row.last_seen, PoolSnapshot.from_dict(row.snapshot))
        for row in rows
    ]


@dataclass(frozen=True)
class HistoryPoint:
    minute: int
    checked_out: int
    wait_p95_ms: float
    wait_max_ms: float
    slow_calls: int
    slow_ms: float


def load_history(connection: Connection, since: datetime) -> list[HistoryPoint]:
    """Per minute: connections held at the busiest moment of each worker, summed, the worst wait,
    and the slow statements of every worker, summed."""
    table = PoolSample.__table__
    rows = connection.execute(
        select(
            table.c.minute,
            func.sum(table.c.checked_out_peak),
            func.max(table.c.wait_p95_ms),
            func.max(table.c.wait_max_ms),
            func.sum(table.c.slow_calls),
            func.sum(table.c.slow_ms),
        )
        .where(table.c.minute >= epoch_minute(since))
        .group_by(table.c.minute)
        .order_by(table.c.minute)
    )
    return [
        HistoryPoint(int(minute), int(held), float(p95), float(worst), int(slow), float(slow_ms))
        for minute, held, p95, worst, slow, slow_ms in rows
    ]


@dataclass(frozen=True)
class SlowQueryTotals:
    fingerprints: int
    calls: int
    total_ms: float


def load_slow_queries(connection: Connection, limit: int) -> tuple[list[SlowQuery], SlowQueryTotals]:
    """The fingerprints costing the most time in all, and totals over every fingerprint."""
    table = SlowQueryStat.__table__
    rows = connection.execute(select(table).order_by(table.c.total_ms.desc()).limit(limit))
    top = [SlowQuery(**row._asdict()) for row in rows]
    count, calls, total = connection.execute(
        select(func.count(), func.coalesce(func.sum(table.c.calls), 0), func.coalesce(func.sum(table.c.total_ms), 0))
    ).one()
    return top, SlowQueryTotals(int(count), int(calls), float(total))
