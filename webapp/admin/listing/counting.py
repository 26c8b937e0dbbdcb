"""Row counts for list pages that stay cheap on large tables.

Flask-Admin runs an exact ``COUNT(*)`` on every list page only to draw the pager (the list
page's ``count_list`` hook, ``list_page.py``, counts through here instead); on a million
rows that costs more than the page itself. Like Django's ``show_full_result_count = False``, we
count exactly only where it is cheap and otherwise show PostgreSQL's own estimate as "about N":

* on other databases (SQLite: development, tests) the count is always exact;
* on PostgreSQL the planner's row estimate comes first (``EXPLAIN``: no rows are read; it scales
  ``pg_class.reltuples`` to the table's current size and applies column statistics, so it covers
  the live-rows condition, filters and search alike);
* when that estimate is at most ``exact_limit`` rows, a count capped at ``exact_limit + 1`` rows
  gives the exact figure, and also catches an estimate that was far too low.

Both are one statement: the estimate comes from ``planner_rows(query)`` (migration 0021: a
``SELECT`` cannot embed ``EXPLAIN`` itself), and the capped count is a scalar subquery under a
``CASE`` on it, which PostgreSQL runs only when that branch is taken. Nothing is cached: the count
is as fresh as the page, so an operator sees their own new record counted at once.
"""

from __future__ import annotations

from typing import Any, cast

import psycopg2
from sqlalchemy import Connection, Select, case, func, select
from sqlalchemy.orm import Session

from webapp.database import inlined
from webapp.formatting import format_number

# What a count costs is the rows PostgreSQL examines, not the rows it counts: on a million tasks,
# counting the 3,400 matches of a two-word search took 130 ms. Above a thousand, "about" will do.
DEFAULT_EXACT_COUNT_LIMIT = 1_000


class ListCount(int):
    """A row count that says whether it is exact.

    An ``int`` because Flask-Admin computes the number of pages from it; printed (Flask-Admin's
    list prints ``{{ count }}``) it reads "1,234", or "about 979,980" when ``estimated``, and the
    list template picks its pager by ``estimated``.
    """

    estimated: bool

    def __new__(cls, value: int, *, estimated: bool = False) -> ListCount:
        count = super().__new__(cls, value)
        count.estimated = estimated
        return count

    def __repr__(self) -> str:
        return f"ListCount({int(self)}, estimated={self.estimated})"

    def __str__(self) -> str:
        return ("about " if self.estimated else "") + format_number(int(self))

    def seen_on_page(self, page: int, page_size: int, rows_on_page: int) -> ListCount:
        """Correct an estimate with what a page actually held.

        A page that is partly filled is the last one, so the exact total is known; a full page
        proves at least that many rows (the pager must reach the operator's page); an empty page
        past the first proves at most the rows before it.
        """
        if not self.estimated or page_size <= 0:
            return self
        rows_before = page * page_size
        if rows_on_page == 0 and page > 0:
            return ListCount(min(self, rows_before), estimated=True)
        if rows_on_page < page_size:
            return ListCount(rows_before + rows_on_page)
        return ListCount(max(self, rows_before + rows_on_page), estimated=True)


def count_rows(session: Session, statement: Select[Any], exact_limit: int = DEFAULT_EXACT_COUNT_LIMIT) -> ListCount:
    """Count the rows of ``statement`` exactly when that is cheap, else estimate (see module doc)."""
    if session.get_bind().dialect.name != "postgresql":
        return ListCount(session.scalar(_count(statement)) or 0)
    estimate, counted = session.execute(estimate_then_capped_count(session, statement, exact_limit)).one()
    if counted is None:
        return ListCount(estimate, estimated=True)
    if counted <= exact_limit:
        return ListCount(counted)
    return ListCount(max(estimate, counted), estimated=True)


def estimate_then_capped_count(session: Session, statement: Select[Any], exact_limit: int) -> Select[Any]:
    """One statement: the planner's estimate of ``statement``, and its rows counted up to
    ``exact_limit + 1`` only when the estimate is at most ``exact_limit`` (else NULL, uncounted)."""
    # A subquery with a volatile function is not flattened: the estimate is made once.
    estimate = select(planner_rows(session.connection(), statement).label("rows")).subquery("estimate")
    capped = _count(statement.limit(exact_limit + 1)).scalar_subquery()
    return select(estimate.c.rows, case((estimate.c.rows <= exact_limit, capped)))


def planner_rows(connection: Connection, statement: Select[Any]) -> Any:
    """``planner_rows(…)`` of ``statement`` with its values in place: the function runs the text,
    which cannot carry parameters."""
    driver = cast(psycopg2.extensions.connection, connection.connection.dbapi_connection)
    return func.planner_rows(inlined(connection, statement).decode(psycopg2.extensions.encodings[driver.encoding]))


def _count(statement: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(statement.subquery())
