"""PostgreSQL's own statement statistics (``pg_stat_statements``), like PgHero's query report.

Unlike the app-side capture this sees every statement the database ran, from any client. The
server normalizes only plannable statements: utility ones (``EXPLAIN``, ``SET``, ``COPY``) are
stored with their literals, the list count's ``EXPLAIN`` with the operator's search term, so every
text passes through ``sql_text`` before it is shown.

Reading the view's ``query`` column makes the server read the texts of every statement it tracks,
for the whole cluster (megabytes, tens of milliseconds): the figures are read without texts
(``pg_stat_statements(false)``), and the texts of the rows shown come from this worker's
``NormalizedTexts`` by ``queryid``; only those it has not seen yet are read, with the file, once.

The extension needs a DBA's two steps (preload, then create); when one is missing the panel says
which, instead of failing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from webapp.monitoring.sql_text import Normalized, NormalizedTexts, normalize

EXTENSION = "pg_stat_statements"
HOW_TO_PRELOAD = (
    "Add pg_stat_statements to shared_preload_libraries in postgresql.conf "
    "(shared_preload_libraries = 'pg_stat_statements'), restart PostgreSQL, then run "
    "CREATE EXTENSION pg_stat_statements; in this database."
)
HOW_TO_CREATE = (
    "The library is preloaded; run CREATE EXTENSION pg_stat_statements; in this database (as its owner or a superuser)."
)

# The union of the top statements by total time, by mean time and by number of calls, so one
# sortable table answers all three questions.
TOP_PER_RANKING = 15
RESET_THIS_DATABASE = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)
# Shown for the rows of other roles' statements, whose queryid and text a role without
# pg_read_all_stats may not see (as the view itself says).
HIDDEN = "<insufficient privilege>"
NOT_KEPT = "(text no longer kept by pg_stat_statements)"
TOP_STATEMENTS = text(
    """
    WITH here AS (
        SELECT queryid, calls, total_exec_time, mean_exec_time, rows, shared_blks_hit, shared_blks_read,
               rank() OVER (ORDER BY total_exec_time DESC) AS by_total,
               rank() OVER (ORDER BY mean_exec_time DESC) AS by_mean,
               rank() OVER (ORDER BY calls DESC) AS by_calls
        FROM pg_stat_statements(false)
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT queryid, calls, total_exec_time, mean_exec_time, rows,
           shared_blks_hit::float8 / NULLIF(shared_blks_hit + shared_blks_read, 0) AS hit_ratio
    FROM here
    WHERE by_total <= :limit OR by_mean <= :limit OR by_calls <= :limit
    ORDER BY total_exec_time DESC
    """
)
# The ids as one array literal: one entry in pg_stat_statements however many there are.
TEXTS = text(
    """
    SELECT DISTINCT ON (queryid) queryid, query FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND queryid = ANY(CAST(:ids AS bigint[]))
    """
)
_texts = NormalizedTexts()


@dataclass(frozen=True)
class Statement:
    queryid: int | None
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    hit_ratio: float | None


@dataclass(frozen=True)
class StatementsReport:
    available: bool
    how_to_enable: str | None
    statements: list[Statement]


def statements_installed(connection: Connection) -> bool:
    found = connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = :name"), {"name": EXTENSION})
    return found is not None


def _preloaded(connection: Connection) -> bool:
    libraries = connection.scalar(text("SELECT current_setting('shared_preload_libraries', true)")) or ""
    return EXTENSION in {library.strip() for library in libraries.split(",")}


def _is_not_loaded(error: DBAPIError) -> bool:
    # The error PostgreSQL raises when the extension exists but the library was not preloaded.
    return "shared_preload_libraries" in str(error.orig)


def statements_report(connection: Connection) -> StatementsReport:
    if not statements_installed(connection):
        how = HOW_TO_CREATE if _preloaded(connection) else HOW_TO_PRELOAD
        return StatementsReport(available=False, how_to_enable=how, statements=[])
    try:
        with connection.begin_nested():
            rows = connection.execute(TOP_STATEMENTS, {"limit": TOP_PER_RANKING}).all()
    except DBAPIError as error:
        if not _is_not_loaded(error):
            raise
        return StatementsReport(available=False, how_to_enable=HOW_TO_PRELOAD, statements=[])
    texts = statement_texts(connection, {row.queryid for row in rows if row.queryid is not None})
    return StatementsReport(
        available=True,
        how_to_enable=None,
        statements=[
            Statement(
                row.queryid,
                _shown_text(row.queryid, texts),
                row.calls,
                row.total_exec_time,
                row.mean_exec_time,
                row.rows,
                row.hit_ratio,
            )
            for row in rows
        ],
    )


def _shown_text(queryid: int | None, texts: dict[int, Normalized]) -> str:
    if queryid is None:
        return HIDDEN
    known = texts.get(queryid)
    return NOT_KEPT if known is None else known.text


def statement_texts(connection: Connection, queryids: Collection[int]) -> dict[int, Normalized]:
    """This database's statements by ``queryid``, normalized (those the server still keeps)."""
    found = {queryid: known for queryid in queryids if (known := _texts.get(queryid)) is not None}
    if missing := [queryid for queryid in queryids if queryid not in found]:
        ids = "{" + ",".join(str(queryid) for queryid in missing) + "}"
        for row in connection.execute(TEXTS, {"ids": ids}):
            if row.query is None:
                continue
            found[row.queryid] = normalized = normalize(row.query)
            _texts.put(row.queryid, normalized, len(normalized.text))
    return found


def reset_statements(connection: Connection) -> str:
    """Reset this database's statement statistics where this database role may; say what happened."""
    if not statements_installed(connection):
        return "pg_stat_statements is not installed here, so there was nothing to reset on the server."
    try:
        with connection.begin_nested():
            # Zeros mean "every": only the database argument is given, so other databases on
            # the same server keep their statistics.
            connection.execute(text(RESET_THIS_DATABASE))
    except DBAPIError as error:
        return f"pg_stat_statements was not reset: {str(error.orig).strip().splitlines()[0]}"
    return "pg_stat_statements was reset for this database."
