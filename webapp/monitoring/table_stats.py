"""Table and index health from ``pg_stat_user_tables`` / ``pg_stat_user_indexes``: bloat (dead
rows), tables read by sequential scans, vacuum and analyze recency, and indexes never used.

Scan counters run since the server's statistics were last reset, which the report gives too:
"never used" only means something over a long enough period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

TABLES = text(
    """
    SELECT CASE WHEN schemaname = 'public' THEN relname ELSE schemaname || '.' || relname END AS name,
           n_live_tup AS live_rows, n_dead_tup AS dead_rows,
           n_dead_tup::float8 / NULLIF(n_live_tup + n_dead_tup, 0) AS dead_ratio,
           seq_scan AS seq_scans, coalesce(idx_scan, 0) AS index_scans,
           pg_total_relation_size(relid) AS size_bytes,
           greatest(last_vacuum, last_autovacuum) AS last_vacuum,
           greatest(last_analyze, last_autoanalyze) AS last_analyze
    FROM pg_stat_user_tables
    ORDER BY pg_total_relation_size(relid) DESC, relname
    LIMIT 200
    """
)

# Unique and primary-key indexes enforce constraints, so they earn their keep without scans.
UNUSED_INDEXES = text(
    """
    SELECT s.indexrelname AS name,
           CASE WHEN s.schemaname = 'public' THEN s.relname ELSE s.schemaname || '.' || s.relname END AS table_name,
           pg_relation_size(s.indexrelid) AS size_bytes
    FROM pg_stat_user_indexes s
    JOIN pg_index i ON i.indexrelid = s.indexrelid
    WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
    ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
    """
)

STATS_SINCE = text("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")


@dataclass(frozen=True)
class TableHealth:
    name: str
    live_rows: int
    dead_rows: int
    dead_ratio: float | None
    seq_scans: int
    index_scans: int
    size_bytes: int
    last_vacuum: datetime | None
    last_analyze: datetime | None


@dataclass(frozen=True)
class UnusedIndex:
    name: str
    table_name: str
    size_bytes: int


@dataclass(frozen=True)
class TableReport:
    stats_since: datetime | None
    tables: list[TableHealth]
    unused_indexes: list[UnusedIndex]


def table_report(connection: Connection) -> TableReport:
    return TableReport(
        stats_since=connection.scalar(STATS_SINCE),
        tables=[TableHealth(**row._asdict()) for row in connection.execute(TABLES)],
        unused_indexes=[UnusedIndex(**row._asdict()) for row in connection.execute(UNUSED_INDEXES)],
    )
