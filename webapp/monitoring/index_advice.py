"""Index advice, after PgHero and pganalyze: indexes to drop (duplicates, invalid ones), to
rebuild (estimated bloat), and to create for the statements that scan large tables.

**Suggestions** start from the costliest ``pg_stat_statements`` entries: each one's generic plan
(``plans``) is searched for sequential scans over large tables with a filter; the filter's columns
compared with a value (``=`` and ``IN`` first, then ranges) make the candidate index. With the
``hypopg`` extension the planner is asked what-if: the statement is planned again with the
candidate as a hypothetical index, and the suggestion is kept only if the planner uses it and the
cost drops, with both costs shown. Without it the candidate is a heuristic, marked as such. Each
suggestion gives the ``CREATE INDEX CONCURRENTLY`` to run and the statements it would serve.

Hypothetical indexes live in the backend's memory only and are removed (``hypopg_reset``)
before the savepoint holding them is rolled back, so none outlives the request or reaches the
next client of a PgBouncer server connection.

**Bloat** is an estimate (no ``pgstattuple``): the pages a freshly built B-tree would need for its
rows and key widths (``pg_stats``), against the pages it has.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from webapp.monitoring import plans
from webapp.monitoring.pg_statements import statements_installed
from webapp.monitoring.sql_text import safe_text

STATEMENTS_EXAMINED = 20
MAX_INDEX_COLUMNS = 3
# A suggestion must make the statement at least this much cheaper for the planner.
MIN_COST_SAVING = 0.10
BLOAT_SHOWN = 20
BLOAT_MIN_BYTES = 1024 * 1024
PAGE_BYTES = 8192
# Page header and B-tree special space; leaf pages filled to the default fillfactor of 90 %.
USABLE_PAGE_BYTES = (PAGE_BYTES - 24 - 16) * 0.9
# Index tuple header, line pointer.
TUPLE_OVERHEAD_BYTES = 8 + 4
HOW_TO_ENABLE_HYPOPG = (
    "Install the hypopg extension (Debian: postgresql-15-hypopg) and run CREATE EXTENSION hypopg; in this "
    "database (no restart needed) to have each suggestion priced by the planner."
)
SCHEMAS_LEFT_OUT = "('pg_catalog', 'information_schema', 'pg_toast')"

# Plain B-tree-or-other indexes (no expressions, no predicate) whose columns and operator classes
# are a prefix of another index's on the same table with the same access method. A unique index
# is only covered by a unique one on the very same columns; a primary key never is.
DUPLICATES = text(
    f"""
    WITH indexes AS (
        SELECT i.indexrelid, i.indrelid, c.relam, i.indisunique, i.indisprimary,
               string_to_array(i.indkey::text, ' ')::int[] AS columns,
               string_to_array(i.indclass::text, ' ')::oid[] AS classes
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.indisvalid AND i.indexprs IS NULL AND i.indpred IS NULL AND n.nspname NOT IN {SCHEMAS_LEFT_OUT}
    )
    SELECT a.indexrelid::regclass::text AS name, a.indrelid::regclass::text AS table_name,
           pg_relation_size(a.indexrelid) AS size_bytes, pg_get_indexdef(a.indexrelid) AS definition,
           'covered by ' || b.indexrelid::regclass::text || ' (' || pg_get_indexdef(b.indexrelid) || ')' AS reason,
           'DROP INDEX CONCURRENTLY ' || a.indexrelid::regclass::text || ';' AS fix
    FROM indexes a
    JOIN indexes b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.relam = a.relam
    WHERE cardinality(a.columns) <= cardinality(b.columns)
      AND a.columns = b.columns[1:cardinality(a.columns)]
      AND a.classes = b.classes[1:cardinality(a.classes)]
      AND NOT a.indisprimary
      AND (NOT a.indisunique OR (b.indisunique AND a.columns = b.columns))
      AND (a.columns <> b.columns OR a.indisunique < b.indisunique
           OR (a.indisunique = b.indisunique AND a.indexrelid > b.indexrelid))
    ORDER BY pg_relation_size(a.indexrelid) DESC, 1
    """
)

INVALID = text(
    f"""
    SELECT c.oid::regclass::text AS name, i.indrelid::regclass::text AS table_name,
           pg_relation_size(c.oid) AS size_bytes, pg_get_indexdef(c.oid) AS definition,
           'invalid: a CREATE INDEX CONCURRENTLY failed; it is kept up to date but never used' AS reason,
           'REINDEX INDEX CONCURRENTLY ' || c.oid::regclass::text || ';' AS fix
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname NOT IN {SCHEMAS_LEFT_OUT}
    ORDER BY 1
    """
)

BTREE_SIZES = text(
    f"""
    SELECT c.oid::regclass::text AS name, i.indrelid::regclass::text AS table_name,
           c.relpages AS pages, greatest(c.reltuples, 0) AS row_estimate,
           (SELECT sum(s.avg_width) FROM pg_attribute a
              JOIN pg_stats s ON s.schemaname = tn.nspname AND s.tablename = t.relname AND s.attname = a.attname
             WHERE a.attrelid = t.oid AND a.attnum = ANY (i.indkey)) AS key_bytes
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_am am ON am.oid = c.relam
    WHERE am.amname = 'btree' AND i.indexprs IS NULL AND i.indisvalid
      AND c.relpages * {PAGE_BYTES} >= {BLOAT_MIN_BYTES} AND tn.nspname NOT IN {SCHEMAS_LEFT_OUT}
    """
)

# The costliest statements by time, and by blocks read (what sequential scans run up), together.
TOP_STATEMENTS = text(
    """
    WITH here AS (
        SELECT queryid, query,
               rank() OVER (ORDER BY total_exec_time DESC) AS by_time,
               rank() OVER (ORDER BY shared_blks_hit + shared_blks_read DESC) AS by_blocks
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND queryid IS NOT NULL AND toplevel
    )
    SELECT DISTINCT ON (queryid) queryid, query FROM here
    WHERE by_time <= :limit OR by_blocks <= :limit
    ORDER BY queryid
    """
)


@dataclass(frozen=True)
class DroppableIndex:
    name: str
    table_name: str
    size_bytes: int
    definition: str
    reason: str
    fix: str


@dataclass(frozen=True)
class BloatedIndex:
    name: str
    table_name: str
    size_bytes: int
    bloat_bytes: int
    bloat_ratio: float
    fix: str


@dataclass
class Suggestion:
    table_name: str
    columns: tuple[str, ...]
    create: str
    priced: bool
    cost_before: float | None = None
    cost_after: float | None = None
    statements: list[str] = field(default_factory=list)
    queryids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class IndexAdvice:
    duplicates: list[DroppableIndex]
    invalid: list[DroppableIndex]
    bloated: list[BloatedIndex]
    hypopg: bool
    how_to_enable_hypopg: str | None
    statements_examined: int
    suggestions: list[Suggestion]
    large_table_rows: int


def quoted(connection: Connection, name: str) -> str:
    return str(connection.scalar(text("SELECT quote_ident(:name)"), {"name": name}))


def droppable_indexes(connection: Connection, query: TextClause) -> list[DroppableIndex]:
    """The indexes ``query`` (``DUPLICATES``, ``INVALID``) finds, each with why and the fix."""
    return [DroppableIndex(**row._asdict()) for row in connection.execute(query)]


def _expected_pages(row_estimate: float, key_bytes: float) -> int:
    tuple_bytes = TUPLE_OVERHEAD_BYTES + 8 * math.ceil(key_bytes / 8)  # keys are MAXALIGNed
    return math.ceil(row_estimate * tuple_bytes / USABLE_PAGE_BYTES) + 1  # and the metapage


def bloated_indexes(connection: Connection) -> list[BloatedIndex]:
    bloated = []
    for row in connection.execute(BTREE_SIZES):
        if row.key_bytes is None:
            continue  # never analysed: no widths to estimate from
        spare_pages = row.pages - _expected_pages(float(row.row_estimate), float(row.key_bytes))
        bloat_bytes = spare_pages * PAGE_BYTES
        if bloat_bytes >= BLOAT_MIN_BYTES:
            size = row.pages * PAGE_BYTES
            fix = f"REINDEX INDEX CONCURRENTLY {row.name};"
            bloated.append(BloatedIndex(row.name, row.table_name, size, bloat_bytes, bloat_bytes / size, fix))
    bloated.sort(key=lambda index: index.bloat_bytes, reverse=True)
    return bloated[:BLOAT_SHOWN]


class _ComparedColumns(Visitor):
    """Columns a filter compares with a value: equality (and IN, = ANY) first, then ranges."""

    EQUALITY = frozenset({"="})
    RANGE = frozenset({"<", ">", "<=", ">="})

    def __init__(self) -> None:
        self.equality: list[str] = []
        self.range: list[str] = []

    def visit_A_Expr(self, ancestors: Any, node: ast.A_Expr) -> None:
        operator = node.name[0].sval if node.name and isinstance(node.name[0], ast.String) else None
        column = _column_of(node.lexpr)
        if column is None or not _is_value(node.rexpr):
            return
        if operator in self.EQUALITY:  # also IN (…) and = ANY (…), which carry "=" too
            self.equality.append(column)
        elif operator in self.RANGE:
            self.range.append(column)


def _column_of(node: Any) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String):
        return node.fields[-1].sval
    return None


def _is_value(node: Any) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, tuple | list):
        return all(_is_value(item) for item in node)
    return isinstance(node, ast.ParamRef | ast.A_Const | ast.A_ArrayExpr)


def candidate_columns(condition: str) -> tuple[str, ...]:
    """The index columns a scan's filter suggests, in order, at most ``MAX_INDEX_COLUMNS``."""
    try:
        [statement] = parse_sql(f"SELECT 1 WHERE {condition}")
    except (ParseError, ValueError):
        return ()
    found = _ComparedColumns()
    found(statement)
    ordered = list(dict.fromkeys(found.equality + found.range))
    return tuple(ordered[:MAX_INDEX_COLUMNS])


def _scans_worth_an_index(plan: plans.Plan) -> Iterator[tuple[str, tuple[str, ...]]]:
    for node in plan.nodes:
        if node.relation and node.condition and any(flag.startswith("sequential scan") for flag in node.flags):
            columns = candidate_columns(node.condition)
            if columns:
                yield node.relation, columns


def _hypopg_installed(connection: Connection) -> bool:
    return connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'")) is not None


def _index_target(connection: Connection, table: str, columns: tuple[str, ...]) -> str:
    """``table (columns)`` quoted for SQL; ``table`` as the plan names it (``schema.name`` outside public)."""
    names = ", ".join(quoted(connection, column) for column in columns)
    return f"{'.'.join(quoted(connection, part) for part in table.split('.'))} ({names})"


def _create_statement(connection: Connection, table: str, columns: tuple[str, ...]) -> str:
    return f"CREATE INDEX CONCURRENTLY ON {_index_target(connection, table, columns)};"


def _uses_a_hypothetical_index(plan: dict[str, Any]) -> bool:
    # hypopg names its indexes "<oid>btree_table_columns".
    return any(str(node.get("Index Name", "")).startswith("<") for _, node in plans.walk(plan["Plan"]))


def _what_if(
    connection: Connection, statement: str, table: str, columns: tuple[str, ...]
) -> tuple[float, float] | None:
    """The statement's generic-plan cost (without, with) the candidate as a hypothetical index, if
    the planner would use it and it saves at least ``MIN_COST_SAVING``."""
    before = float(plans.explain_generic(connection, statement)["Plan"]["Total Cost"])
    try:
        connection.execute(
            text("SELECT * FROM hypopg_create_index(:ddl)"),
            {"ddl": f"CREATE INDEX ON {_index_target(connection, table, columns)}"},
        )
        with_index = plans.explain_generic(connection, statement)
    finally:
        connection.execute(text("SELECT hypopg_reset()"))
    after = float(with_index["Plan"]["Total Cost"])
    if not _uses_a_hypothetical_index(with_index) or after > before * (1 - MIN_COST_SAVING):
        return None
    return before, after


Found = dict[tuple[str, tuple[str, ...]], Suggestion]


def _examine(connection: Connection, queryid: int, statement: str, hypopg: bool, found: Found) -> None:
    """Add what one statement's plan suggests to ``found``, in a savepoint rolled back after."""
    savepoint = connection.begin_nested()
    try:
        plan = plans.draw(connection, plans.explain_generic(connection, statement), statement, generic=True)
        for table, columns in _scans_worth_an_index(plan):
            priced = _what_if(connection, statement, table, columns) if hypopg else None
            if hypopg and priced is None:
                continue  # the planner would not use it, or it saves too little
            suggestion = found.setdefault(
                (table, columns), Suggestion(table, columns, _create_statement(connection, table, columns), hypopg)
            )
            if priced is not None and suggestion.cost_before is None:
                suggestion.cost_before, suggestion.cost_after = priced
            suggestion.statements.append(safe_text(statement))
            suggestion.queryids.append(queryid)
    except (plans.PlanRefused, DBAPIError):
        pass  # no generic plan (a parameter type that cannot be inferred, a timeout): nothing to suggest
    finally:
        savepoint.rollback()


def suggested_indexes(connection: Connection, hypopg: bool) -> tuple[int, list[Suggestion]]:
    """The statements examined and what they suggest, the largest saving (or most statements) first."""
    found: Found = {}
    statements = connection.execute(TOP_STATEMENTS, {"limit": STATEMENTS_EXAMINED}).all()
    for row in statements:
        _examine(connection, row.queryid, row.query, hypopg, found)
    ranked = sorted(
        found.values(),
        key=lambda suggestion: ((suggestion.cost_before or 0) - (suggestion.cost_after or 0), len(suggestion.queryids)),
        reverse=True,
    )
    return len(statements), ranked


def index_advice(connection: Connection) -> IndexAdvice:
    hypopg = _hypopg_installed(connection)
    examined, suggestions = suggested_indexes(connection, hypopg) if statements_installed(connection) else (0, [])
    return IndexAdvice(
        duplicates=droppable_indexes(connection, DUPLICATES),
        invalid=droppable_indexes(connection, INVALID),
        bloated=bloated_indexes(connection),
        hypopg=hypopg,
        how_to_enable_hypopg=None if hypopg else HOW_TO_ENABLE_HYPOPG,
        statements_examined=examined,
        suggestions=suggestions,
        large_table_rows=plans.LARGE_TABLE_ROWS,
    )
