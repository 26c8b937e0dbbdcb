"""Database-wide figures, as PgHero's overview shows them: size, cache hit rates, how close the
database is to transaction-ID wraparound, sequences near their maximum, and tables that
autovacuum should have vacuumed or analysed by now given how much they changed.

"Due" follows autovacuum's own rule (threshold + scale factor × rows) with the server-wide
settings; a table with its own storage parameters may be on another schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

# A sequence is shown from this share of its maximum on; the finding names it.
SEQUENCE_NEAR_MAX = 0.75
SHOWN = 20

OVERVIEW = text(
    """
    SELECT pg_database_size(current_database()) AS size_bytes,
           age(d.datfrozenxid) AS wraparound_age,
           mxid_age(d.datminmxid) AS multixact_age,
           (SELECT sum(heap_blks_hit)::float8 / NULLIF(sum(heap_blks_hit) + sum(heap_blks_read), 0)
            FROM pg_statio_user_tables) AS table_hit_ratio,
           (SELECT sum(idx_blks_hit)::float8 / NULLIF(sum(idx_blks_hit) + sum(idx_blks_read), 0)
            FROM pg_statio_user_indexes) AS index_hit_ratio
    FROM pg_database d
    WHERE d.datname = current_database()
    """
)

OLDEST_TABLES = text(
    """
    SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END AS name,
           age(c.relfrozenxid) AS wraparound_age
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    ORDER BY age(c.relfrozenxid) DESC
    LIMIT :shown
    """
)

# last_value is NULL for a sequence never used, or one this role may not read.
SEQUENCES = text(
    """
    SELECT CASE WHEN schemaname = 'public' THEN sequencename ELSE schemaname || '.' || sequencename END AS name,
           data_type::text AS data_type, last_value, max_value,
           last_value::float8 / max_value AS used_ratio
    FROM pg_sequences
    WHERE last_value IS NOT NULL AND increment_by > 0
    ORDER BY last_value::float8 / max_value DESC
    LIMIT :shown
    """
)

MAINTENANCE_DUE = text(
    """
    WITH settings AS (
        SELECT current_setting('autovacuum_vacuum_threshold')::float8 AS vacuum_base,
               current_setting('autovacuum_vacuum_scale_factor')::float8 AS vacuum_scale,
               current_setting('autovacuum_analyze_threshold')::float8 AS analyze_base,
               current_setting('autovacuum_analyze_scale_factor')::float8 AS analyze_scale
    )
    SELECT CASE WHEN s.schemaname = 'public' THEN s.relname ELSE s.schemaname || '.' || s.relname END AS name,
           s.n_dead_tup AS dead_rows, s.n_mod_since_analyze AS changed_since_analyze,
           s.n_dead_tup > vacuum_base + vacuum_scale * greatest(c.reltuples, 0) AS vacuum_due,
           s.n_mod_since_analyze > analyze_base + analyze_scale * greatest(c.reltuples, 0) AS analyze_due,
           greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
           greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid, settings
    WHERE s.n_dead_tup > vacuum_base + vacuum_scale * greatest(c.reltuples, 0)
       OR s.n_mod_since_analyze > analyze_base + analyze_scale * greatest(c.reltuples, 0)
    ORDER BY s.n_dead_tup + s.n_mod_since_analyze DESC
    LIMIT :shown
    """
)


@dataclass(frozen=True)
class TableAge:
    name: str
    wraparound_age: int


@dataclass(frozen=True)
class SequenceUse:
    name: str
    data_type: str
    last_value: int
    max_value: int
    used_ratio: float
    near_max: bool


@dataclass(frozen=True)
class MaintenanceDue:
    name: str
    dead_rows: int
    changed_since_analyze: int
    vacuum_due: bool
    analyze_due: bool
    last_vacuum: datetime | None
    last_analyze: datetime | None


@dataclass(frozen=True)
class DatabaseReport:
    size_bytes: int
    wraparound_age: int
    multixact_age: int
    table_hit_ratio: float | None
    index_hit_ratio: float | None
    oldest_tables: list[TableAge]
    sequences: list[SequenceUse]
    sequence_near_max_ratio: float
    maintenance_due: list[MaintenanceDue]


def database_report(connection: Connection) -> DatabaseReport:
    overview = connection.execute(OVERVIEW).one()
    shown = {"shown": SHOWN}
    return DatabaseReport(
        size_bytes=overview.size_bytes,
        wraparound_age=overview.wraparound_age,
        multixact_age=overview.multixact_age,
        table_hit_ratio=overview.table_hit_ratio,
        index_hit_ratio=overview.index_hit_ratio,
        oldest_tables=[TableAge(**row._asdict()) for row in connection.execute(OLDEST_TABLES, shown)],
        sequences=[
            SequenceUse(**row._asdict(), near_max=row.used_ratio >= SEQUENCE_NEAR_MAX)
            for row in connection.execute(SEQUENCES, shown)
        ],
        sequence_near_max_ratio=SEQUENCE_NEAR_MAX,
        maintenance_due=[MaintenanceDue(**row._asdict()) for row in connection.execute(MAINTENANCE_DUE, shown)],
    )
