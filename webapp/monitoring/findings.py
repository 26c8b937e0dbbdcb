"""What the dashboard raises at its top: each finding a sentence and the threshold it crossed.

The thresholds are settings (``FINDING_*``, read in ``webapp.config``) so that a site tunes them
once, and ``deploy/prometheus/alerts.yml`` alerts on the same figures at the same defaults. A
finding names its threshold so that an operator who disagrees knows which variable to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from webapp.formatting import noun_for
from webapp.monitoring.database_stats import DatabaseReport
from webapp.monitoring.pg_activity import ActivityReport
from webapp.monitoring.pg_statements import StatementsReport
from webapp.monitoring.pool import WINDOW_SECONDS
from webapp.monitoring.table_stats import TableReport


@dataclass(frozen=True)
class Thresholds:
    """Field ``x`` is the setting ``FINDING_X``."""

    checkout_wait_ms: int = 100
    pool_usage_percent: int = 80
    slow_statement_ms: int = 1000
    long_running_seconds: int = 5
    dead_rows: int = 10_000
    dead_rows_percent: int = 20
    wraparound_age: int = 1_000_000_000
    regression_percent: int = 50

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Thresholds:
        return cls(**{field.name: config[setting_name(field.name)] for field in fields(cls)})


def setting_name(threshold: str) -> str:
    return "FINDING_" + threshold.upper()


def _named(thresholds: Thresholds, *names: str) -> str:
    return ", ".join(f"{setting_name(name)}={getattr(thresholds, name):,}" for name in names)


@dataclass(frozen=True)
class Finding:
    """Something an operator should look at, in a sentence (``level``: a Bootstrap alert colour),
    and what raised it."""

    level: str
    message: str
    threshold: str


class PoolFigures(Protocol):
    """What the pool findings read (the report's ``PoolOverview``): the live workers' pools summed,
    percentiles the worst worker's."""

    @property
    def totals(self) -> Mapping[str, Any]: ...
    @property
    def capacity(self) -> int | None: ...
    @property
    def stale_workers(self) -> int: ...
    @property
    def stale_after_seconds(self) -> float: ...


def pool_findings(pool: PoolFigures, thresholds: Thresholds) -> Iterator[Finding]:
    totals = pool.totals
    if timeouts := totals["pool_timeouts"]:
        yield Finding(
            "danger",
            f"{timeouts:,} {noun_for(timeouts, 'request', 'requests')} gave up waiting for a "
            "connection: raise DB_POOL_SIZE / DB_MAX_OVERFLOW or find what holds connections.",
            "any pool timeout (DB_POOL_TIMEOUT)",
        )
    usage = thresholds.pool_usage_percent / 100
    if pool.capacity and (totals["checked_out"] or 0) >= usage * pool.capacity:
        yield Finding(
            "warning",
            f"{totals['checked_out']} of {pool.capacity} pooled connections are in use.",
            _named(thresholds, "pool_usage_percent"),
        )
    if pending := totals.get("pending"):
        yield Finding(
            "warning",
            f"{pending} {noun_for(pending, 'request is', 'requests are')} waiting for a connection right now.",
            "any request waiting",
        )
    if (totals["wait_p95_ms"] or 0) >= thresholds.checkout_wait_ms:
        yield Finding(
            "warning",
            f"Checkouts waited {totals['wait_p95_ms']:.0f} ms (p95, last {WINDOW_SECONDS // 60} minutes) for a "
            "free connection: the pool was exhausted. Raise DB_POOL_SIZE / DB_MAX_OVERFLOW or find what holds "
            "connections.",
            _named(thresholds, "checkout_wait_ms"),
        )
    if stale := pool.stale_workers:
        yield Finding(
            "warning",
            f"{stale} {noun_for(stale, 'worker', 'workers')} stopped reporting: crashed or hung?",
            f"no report for {pool.stale_after_seconds:g} s (3 × MONITORING_INTERVAL_SECONDS)",
        )


def server_findings(
    activity: object, statements: object, tables: object, database: object, thresholds: Thresholds
) -> Iterator[Finding]:
    """Findings from the PostgreSQL panels that could be read (a ``PanelError`` or ``None`` is skipped)."""
    if isinstance(activity, ActivityReport):
        yield from _activity_findings(activity, thresholds)
    if isinstance(statements, StatementsReport):
        slow = [statement for statement in statements.statements if statement.mean_ms >= thresholds.slow_statement_ms]
        if slow:
            yield Finding(
                "warning",
                f"{len(slow)} {noun_for(len(slow), 'statement takes', 'statements take')} "
                f"{thresholds.slow_statement_ms:,} ms or more on average (pg_stat_statements).",
                _named(thresholds, "slow_statement_ms"),
            )
    if isinstance(tables, TableReport):
        for table in tables.tables:
            if (
                table.dead_rows >= thresholds.dead_rows
                and (table.dead_ratio or 0) * 100 >= thresholds.dead_rows_percent
            ):
                yield Finding(
                    "warning",
                    f"Table {table.name} is {table.dead_ratio:.0%} dead rows: is autovacuum keeping up?",
                    _named(thresholds, "dead_rows", "dead_rows_percent"),
                )
    if isinstance(database, DatabaseReport):
        yield from _database_findings(database, thresholds)


def _activity_findings(activity: ActivityReport, thresholds: Thresholds) -> Iterator[Finding]:
    if activity.usage_ratio * 100 >= thresholds.pool_usage_percent:
        yield Finding(
            "warning",
            f"The server has {activity.connections} of {activity.max_connections} connections in use.",
            _named(thresholds, "pool_usage_percent"),
        )
    if long_running := len(activity.long_running):
        yield Finding(
            "warning",
            f"{long_running} {noun_for(long_running, 'statement', 'statements')} running "
            f"longer than {activity.long_running_after_seconds:g} s.",
            _named(thresholds, "long_running_seconds"),
        )


def _database_findings(database: DatabaseReport, thresholds: Thresholds) -> Iterator[Finding]:
    if database.wraparound_age >= thresholds.wraparound_age:
        yield Finding(
            "danger",
            f"The oldest unfrozen transaction ID is {database.wraparound_age:,} transactions old: PostgreSQL stops "
            "accepting writes near 2 billion. Check that (auto)vacuum completes on the oldest tables.",
            _named(thresholds, "wraparound_age"),
        )
    for sequence in database.sequences:
        if sequence.near_max:
            yield Finding(
                "danger",
                f"Sequence {sequence.name} has used {sequence.used_ratio:.0%} of its {sequence.data_type} range.",
                f"{database.sequence_near_max_ratio:.0%} of the maximum",
            )
