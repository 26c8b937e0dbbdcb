"""A list's state by meaning: what a saved view keeps, and the address it opens at.

Flask-Admin names a filter's URL parameter after the filter's position and label
(``flt0_status_is``, or ``flt0_3`` without ``named_filter_urls``) and a sort after the column's
position (``sort=4``); both change when a view's filters or columns do. A saved state names a
filter by its column's label, its operation and its value, and the sort by the column's name; the
address is rebuilt from the filters and columns the list has when the view is opened, and
whatever no longer exists is left out and named (``Opened.left_out``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webapp.admin import compat
from webapp.admin.listing.columns import COLUMNS_ARGUMENT, column_positions, unknown_columns


@dataclass(frozen=True)
class FilterMeaning:
    """One filter of the list: ``Status`` ``is`` ``active``."""

    column: str
    operation: str
    value: str

    def describe(self) -> str:
        return f"{self.column} {self.operation} “{self.value}”"


@dataclass(frozen=True)
class ListState:
    """Filters, search, sort, page size and shown columns; None where the list's default holds."""

    filters: tuple[FilterMeaning, ...] = ()
    search: str | None = None
    sort: str | None = None
    descending: bool = False
    page_size: int | None = None
    columns: tuple[str, ...] | None = None

    def as_document(self) -> dict[str, Any]:
        """The JSON stored in ``saved_views.state``."""
        return {
            "filters": [{"column": flt.column, "operation": flt.operation, "value": flt.value} for flt in self.filters],
            "search": self.search,
            "sort": None if self.sort is None else {"column": self.sort, "descending": self.descending},
            "page_size": self.page_size,
            "columns": None if self.columns is None else list(self.columns),
        }

    @classmethod
    def from_document(cls, document: Any) -> ListState:
        """The state a stored document holds; a part that is not what :meth:`as_document` writes
        (a document edited by hand) is taken as the list's default."""
        document = document if isinstance(document, dict) else {}
        filters = tuple(
            FilterMeaning(str(entry["column"]), str(entry["operation"]), str(entry["value"]))
            for entry in document.get("filters") or ()
            if isinstance(entry, dict) and {"column", "operation", "value"} <= entry.keys()
        )
        sort = document.get("sort")
        sort = sort if isinstance(sort, dict) and isinstance(sort.get("column"), str) else {}
        page_size = document.get("page_size")
        columns = document.get("columns")
        return cls(
            filters=filters,
            search=document.get("search") if isinstance(document.get("search"), str) else None,
            sort=sort.get("column"),
            descending=bool(sort.get("descending")),
            page_size=page_size if isinstance(page_size, int) and not isinstance(page_size, bool) else None,
            columns=tuple(map(str, columns)) if isinstance(columns, list) else None,
        )

    def describe(self, view: Any) -> list[str]:
        """The state in words, one part per line, for the page that saves it."""
        labels = dict(view.get_list_columns())
        parts = [f"Filter: {flt.describe()}" for flt in self.filters]
        if self.search:
            parts.append(f"Search: “{self.search}”")
        if self.sort:
            parts.append(
                f"Sorted by {labels.get(self.sort, self.sort)}{', newest or highest first' if self.descending else ''}"
            )
        if self.page_size:
            parts.append(f"{self.page_size} rows a page")
        if self.columns:
            parts.append("Columns: " + ", ".join(str(labels.get(name, name)) for name in self.columns))
        return parts or ["The list as it first opens"]


def current_state(view: Any, columns: list[str] | None) -> ListState:
    """The state the request's list arguments describe (parsed by Flask-Admin, so a filter whose
    value is invalid is already flashed and left out), with the page's shown ``columns``."""
    arguments = compat.list_arguments(view)
    filters = compat.list_filters(view)
    names = list(column_positions(view))
    sort = arguments.sort if arguments.sort is not None and 0 <= arguments.sort < len(names) else None
    return ListState(
        filters=tuple(
            FilterMeaning(str(filters[index].name), str(filters[index].operation()), str(value))
            for index, _name, value in arguments.filters or ()
        ),
        search=arguments.search or None,
        sort=None if sort is None else names[sort],
        descending=bool(arguments.sort_desc) and sort is not None,
        page_size=arguments.page_size or None,
        columns=tuple(columns) if columns is not None else None,
    )


@dataclass
class Opened:
    """The address a state opens at, and what of the state the list no longer has."""

    url: str
    left_out: list[str] = field(default_factory=list)


def opened_state(view: Any, state: ListState) -> Opened:
    """The list's address for ``state``, built from the filters and columns the list has now."""
    left_out: list[str] = []
    filters = []
    for flt in state.filters:
        index = _filter_index(view, flt)
        if index is None:
            left_out.append(f"the filter {flt.describe()} (the list has no such filter now)")
        elif not compat.list_filters(view)[index].validate(flt.value):
            left_out.append(f"the filter {flt.describe()} (not a value that filter takes now)")
        else:
            filters.append((index, flt.column, flt.value))
    positions = column_positions(view)
    sort = positions.get(state.sort) if state.sort else None
    if state.sort and (sort is None or state.sort not in compat.sortable_column_names(view)):
        left_out.append(f"the sort by “{state.sort}” (the list cannot sort by it now)")
        sort = None
    page_size = state.page_size if state.page_size in view.page_size_options else None
    if state.page_size and page_size is None:
        left_out.append(f"{state.page_size} rows a page (not a size the list offers now)")
    extra = {}
    if state.columns:
        gone = unknown_columns(view, state.columns)
        left_out.extend(f"the column “{name}” (the list has no such column now)" for name in gone)
        kept = [name for name in state.columns if name not in gone]
        if kept:
            extra[COLUMNS_ARGUMENT] = ",".join(kept)
    url = compat.list_url(
        view,
        page_size=page_size,
        sort=sort,
        descending=state.descending and sort is not None,
        search=state.search,
        filters=filters,
        extra=extra,
    )
    return Opened(url, left_out)


def _filter_index(view: Any, meaning: FilterMeaning) -> int | None:
    """The position of the list's filter on the same column with the same operation (letter case
    aside), or None."""
    wanted = (meaning.column.casefold(), meaning.operation.casefold())
    for index, flt in enumerate(compat.list_filters(view)):
        if (str(flt.name).casefold(), str(flt.operation()).casefold()) == wanted:
            return index
    return None
