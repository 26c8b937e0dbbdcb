"""Row counts for list pages that stay cheap on large tables.

Flask-Admin runs an exact ``COUNT(*)`` on every list page only to draw the pager; on a million
rows that costs more than the page itself. Like Django's ``show_full_result_count = False``, we
count exactly only where it is cheap and otherwise show PostgreSQL's own estimate as "about N":

* on other databases (SQLite: development, tests) the count is always exact;
* on PostgreSQL the planner's row estimate comes first (``EXPLAIN``: no rows are read; it scales
  ``pg_class.reltuples`` to the table's current size and applies column statistics, so it covers
  the live-rows condition, filters and search alike);
* when that estimate is at most ``exact_limit`` rows, a count capped at ``exact_limit + 1`` rows
  gives the exact figure, and also catches an estimate that was far too low.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Query, Session

from webapp.admin.listing.export import is_exporting
from webapp.admin.mixin_bases import ModelViewMixinBase
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


def planner_row_estimate(session: Session, statement: Select[Any]) -> int:
    """How many rows PostgreSQL expects ``statement`` to return, without running it."""
    compiled = statement.compile(session.get_bind())
    plan = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(session: Session, statement: Select[Any], exact_limit: int = DEFAULT_EXACT_COUNT_LIMIT) -> ListCount:
    """Count the rows of ``statement`` exactly when that is cheap, else estimate (see module doc)."""
    if session.get_bind().dialect.name != "postgresql":
        return ListCount(_count(session, statement))
    estimate = planner_row_estimate(session, statement)
    if estimate > exact_limit:
        return ListCount(estimate, estimated=True)
    counted = _count(session, statement.limit(exact_limit + 1))
    if counted <= exact_limit:
        return ListCount(counted)
    return ListCount(max(estimate, counted), estimated=True)


def _count(session: Session, statement: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


class CheapCountQuery:
    """Stands in for the ``SELECT count(*)`` query Flask-Admin builds for the list view.

    Flask-Admin refines that query with ``filter``/``join``/``outerjoin`` (search, filters, soft
    delete) and finally calls ``scalar()``; every refinement is passed to the real query, and
    ``scalar()`` answers with :func:`count_rows` over the same FROM and WHERE.
    """

    def __init__(self, query: Query[Any], exact_limit: int) -> None:
        self._query = query
        self._exact_limit = exact_limit

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._query, name)
        if not callable(attribute):
            return attribute
        return self._keep_cheap(attribute)

    def _keep_cheap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def refined(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return CheapCountQuery(result, self._exact_limit) if isinstance(result, Query) else result

        return refined

    def scalar(self) -> ListCount | None:
        if is_exporting():  # an export wants the rows, never their number
            return None
        statement = self._query.statement
        # A Query may also hold DML or a from_statement(); the count query Flask-Admin builds is a SELECT.
        if not isinstance(statement, Select):
            raise TypeError(f"expected a SELECT count query, got {type(statement).__name__}")
        rows: Select[Any] = statement.with_only_columns(literal_column("1"))
        return count_rows(self._query.session, rows, self._exact_limit)


class EstimatedCountMixin(ModelViewMixinBase):
    """List views whose pager count is exact when cheap and "about N" otherwise.

    Works in any position among the view's mixins: whatever count query the others build (live
    rows only, and so on) is wrapped, not replaced.
    """

    exact_count_limit: ClassVar[int] = DEFAULT_EXACT_COUNT_LIMIT
    page_size: int

    def get_count_query(self) -> Any:
        return CheapCountQuery(super().get_count_query(), self.exact_count_limit)

    def get_list(
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        count, rows = super().get_list(
            page, sort_column, sort_desc, search, filters, execute=execute, page_size=page_size
        )
        if execute and isinstance(count, ListCount):
            size = self.page_size if page_size is None else page_size
            count = count.seen_on_page(page or 0, size, len(rows))
        return count, rows
