"""The list page's statement, built in one place for the page and for its export.

Flask-Admin's ``get_list`` builds the page from ``get_query``, applies search, filters, sorting and
paging, and counts with ``get_count_query(…).scalar()``. This one takes the same steps with the
same pieces (through ``compat``), but says what it builds for: a page (the listed relationships
joined in, only the shown columns loaded, a cheap count, a keyset range instead of a deep offset)
or an export (every column, collections loaded per batch, no count). Each step a view may change
is a hook with one job:

- ``get_query`` / ``get_count_query``: which rows the list has at all (e.g. live rows only);
- ``search_query``: the rows a search keeps (every word, bounded as ``inputs.search`` says, must
  match one of the searched columns);
- ``count_list``: the pager's count of a count query (exact when cheap, else an estimate);
- ``page_after``: a range condition that replaces the offset (``keyset.KeysetPaginationMixin``).

A deep numbered page (``?page=10000``) is found by its rows' keys first: ``OFFSET 500000`` over
the list's rows makes PostgreSQL fetch and throw away half a million table rows, while the same
offset over the keys alone walks the list order's index without touching the table (an
index-only scan where the order is index-backed); the page's rows are then the 50 with those keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import request
from flask_admin.tools import rec_getattr
from jinja2 import pass_context
from sqlalchemy import inspect, literal_column, or_
from sqlalchemy.orm import RelationshipDirection, joinedload, load_only, selectinload

from webapp.admin import compat
from webapp.admin.inputs.filters import filter_pickers
from webapp.admin.inputs.ids import parse_id
from webapp.admin.inputs.search import like_pattern, matches, search_words
from webapp.admin.listing.counting import DEFAULT_EXACT_COUNT_LIMIT, ListCount, count_rows
from webapp.admin.listing.display import TypeFormatters
from webapp.admin.listing.row_urls import row_url
from webapp.admin.mixin_bases import ModelViewMixinBase


class ListPageMixin(ModelViewMixinBase):
    """List pages that cost the same few statements whatever their size (and whatever the
    table's: large lists show an estimated count), and exports built from the same query."""

    exact_count_limit: ClassVar[int] = DEFAULT_EXACT_COUNT_LIMIT
    # Columns a list cell's formatter reads besides its own (loaded with the page's rows).
    column_list_reads: tuple[str, ...] = ()
    # Flask-Admin would joinedload every relationship in the list without caring whether the query
    # is an export's; ``list_loads`` loads them as the page or the export needs instead.
    column_auto_select_related = False
    # Past this many rows an offset page looks up its keys first (see the module's docstring).
    deep_offset_rows: ClassVar[int] = 500

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
        query = self.list_query(search, filters, sort_column, sort_desc, for_export=False)
        count = (
            None if self.simple_list_pager else self.count_list(self.filtered(self.get_count_query(), search, filters))
        )
        after = self.page_after(sort_column)
        size = self.page_size if page_size is None else page_size
        offset = (page or 0) * (size or 0)
        if after is not None:
            query = query.filter(after).limit(size or None)
        elif offset > self.deep_offset_rows:
            query = self.deep_page(query, search, filters, sort_column, sort_desc, offset, size)
        else:
            query = compat.apply_pagination(self, query, page, page_size)
        if not execute:
            return count, query
        rows = query.all()
        if isinstance(count, ListCount) and after is None:
            count = count.seen_on_page(page or 0, size, len(rows))
        return count, rows

    def list_query(
        self, search: str | None, filters: Any, sort_column: Any, sort_desc: bool, *, for_export: bool
    ) -> Any:
        """The list's rows in the list's order, unpaged: searched, filtered and sorted as the
        operator asked, loaded as a page (``for_export=False``) or an export needs them."""
        query = self.get_query().options(*self.list_loads(for_export=for_export))
        query, joins = self._narrowed(query, search, filters)
        query, _joins = compat.apply_sorting(self, query, joins, sort_column, sort_desc)
        return query

    def deep_page(
        self, query: Any, search: str | None, filters: Any, sort_column: Any, sort_desc: bool, offset: int, size: int
    ) -> Any:
        """``query``'s page at ``offset``, joined to its keys found first: the list's keys in its
        order, narrowed as the list is; nothing but the key is read, so the order's index can
        serve that walk alone, and the table gives only the page's rows (by primary key)."""
        key = inspect(self.model).primary_key[0]
        keys, joins = self._narrowed(self.get_query(), search, filters)
        keys, _joins = compat.apply_sorting(self, keys, joins, sort_column, sort_desc)
        page_keys = keys.with_entities(key.label("key")).offset(offset).limit(size).subquery("page_keys")
        return query.join(page_keys, key == page_keys.c.key).limit(size)

    def filtered(self, query: Any, search: str | None, filters: Any) -> Any:
        """``query`` (the list's, or its count's) narrowed by the search and the filters."""
        return self._narrowed(query, search, filters)[0]

    def _narrowed(self, query: Any, search: str | None, filters: Any) -> tuple[Any, dict[Any, Any]]:
        joins: dict[Any, Any] = {}
        if search and compat.search_enabled(self):
            query, joins = self.search_query(query, joins, search)
        return compat.apply_filters(self, query, joins, filters)

    def search_query(self, query: Any, joins: dict[Any, Any], search: str) -> tuple[Any, dict[Any, Any]]:
        """Flask-Admin's search (every word must match one of the searched columns), bounded as
        ``webapp.admin.inputs.search`` says, with ``%`` and ``_`` matched as typed. The list, its
        count, the export and the trash all search through here."""
        for word in search_words(search).words:
            query, joins = self._matching_word(query, joins, like_pattern(word))
        return query, joins

    def _matching_word(self, query: Any, joins: dict[Any, Any], pattern: str) -> tuple[Any, dict[Any, Any]]:
        """``query`` narrowed to rows where one of the searched columns matches ``pattern``."""
        conditions = []
        for column, path in compat.search_columns(self):
            query, joins, alias = compat.join_path(self, query, joins, path)
            conditions.append(matches(column if alias is None else getattr(alias, column.key), pattern))
        return query.filter(or_(*conditions)), joins

    def search_placeholder(self) -> str | None:
        if not self.column_searchable_list:
            return None
        labels = ", ".join(self.get_column_name(name).lower() for name in self.column_searchable_list)
        return f"Search {labels}"

    def search_notice(self, search: str | None) -> str | None:
        """What the page says when the search ran with less than was typed."""
        return search_words(search).notice()

    def count_list(self, count_query: Any) -> ListCount:
        """The pager's count of ``count_query`` (Flask-Admin's ``SELECT count(*)`` with the list's
        conditions): exact when that is cheap, else the planner's estimate (``counting``)."""
        rows = count_query.statement.with_only_columns(literal_column("1"))
        return count_rows(count_query.session, rows, self.exact_count_limit)

    def page_after(self, sort_column: Any) -> Any:
        """A condition that starts the page after a row instead of after an offset, or None."""
        return None

    # -- what the rows load ----------------------------------------------------------------------

    def list_loads(self, *, for_export: bool) -> list[Any]:
        """Loader options of the list's rows: eager loads, and on a page only the shown columns."""
        if for_export:
            return self.eager_loads(collections=selectinload)
        return [*self.eager_loads(collections=joinedload), *self.shown_columns_only()]

    def eager_loads(self, collections: Any = joinedload) -> list[Any]:
        """Every relationship shown in the list (owner, tags) loaded with the rows. A page joins
        them into its one statement: SQLAlchemy joins collections to the page's rows in a
        subquery, after LIMIT, so the page still has its size. An export streams its rows in
        batches (``yield_per``), which cannot join a collection: there, pass ``selectinload``
        (one ``SELECT … IN`` per batch)."""
        return [
            joinedload(relationship.class_attribute)
            if _many_to_one(relationship)
            else collections(relationship.class_attribute)
            for relationship in self.listed_relationships()
        ]

    def listed_relationships(self) -> list[Any]:
        """The relationships among the list's columns (a task's owner and tags)."""
        relationships = inspect(self.model).relationships
        return [relationships[name] for name in self.column_list or () if name in relationships]

    def shown_columns_only(self) -> list[Any]:
        """On the list page, only the columns it reads: those listed, the keys (own, of listed
        relationships, the version) and the sort columns. A task row otherwise carries its
        description and JSON metadata through the page's query (once per tag, as the tags are
        joined in) only to be ignored: 0.2–0.4 ms a page on the benchmark's short texts, more
        where descriptions are long."""
        if request.endpoint != f"{self.endpoint}.index_view" or not self.column_list:
            return []
        mapper = inspect(self.model)
        keys = [*mapper.primary_key, *([mapper.version_id_col] if mapper.version_id_col is not None else [])]
        for relationship in self.listed_relationships():
            if _many_to_one(relationship):
                keys.extend(relationship.local_columns)
        read = set(self.column_list) | {mapper.get_property_by_column(column).key for column in keys}
        read |= _default_sort_names(self.column_default_sort) | compat.sortable_column_names(self)
        read |= set(self.column_list_reads)
        attributes = [getattr(self.model, prop.key) for prop in mapper.column_attrs if prop.key in read]
        return [load_only(*attributes)]

    # -- one record, the URL arguments, the page ---------------------------------------------------

    def get_one(self, id: Any) -> Any:
        # Flask-Admin's own get_one is ``session.get``, which ignores ``get_query``: every scope a
        # view puts on its list (soft delete) must also hold for the edit and details URLs.
        pk = parse_id(id)
        if pk is None:
            return None
        return self.get_query().options(*self.eager_loads()).filter(self.model.id == pk).one_or_none()

    def adjusted_list_arguments(self, arguments: Any) -> Any:
        # A hand-edited ?page=-5 would become a negative OFFSET, which PostgreSQL refuses.
        arguments = super().adjusted_list_arguments(arguments)
        arguments.page = max(arguments.page or 0, 0)
        return arguments

    @pass_context
    def get_list_value(self, context: Any, model: Any, name: str) -> Any:
        """A list cell as Flask-Admin's ``get_list_value`` makes it (the column's formatter, else
        the attribute; a choice's label; else the value's type formatter), with the type formatter
        found once per value type rather than by an ``isinstance`` walk for each of a page's
        hundreds of cells."""
        formatter = self.column_formatters.get(name)
        value = rec_getattr(model, name) if formatter is None else formatter(self, context, model, name)
        choices = compat.column_choices(self, name)
        if choices:
            return choices.get(value) or value
        return self.list_type_formatters().format(value, name)

    def list_type_formatters(self) -> TypeFormatters:
        """The list's type formatters, one choice per value type for the life of the process."""
        found: TypeFormatters | None = self.__dict__.get("_list_type_formatters")
        if found is None or found.formatters is not self.column_type_formatters:
            found = self.__dict__["_list_type_formatters"] = TypeFormatters(self, self.column_type_formatters)
        return found

    def render(self, template: str, **kwargs: Any) -> Any:
        count = kwargs.get("count")
        if isinstance(count, int) and not isinstance(count, ListCount):
            kwargs["count"] = ListCount(count)  # printed as 1,234
        kwargs.setdefault("row_url", row_url)
        kwargs["search_notice"] = self.search_notice(kwargs.get("search"))
        if "active_filters" in kwargs:  # the list page
            kwargs["filter_pickers"] = filter_pickers(self, kwargs.get("filters"), kwargs["active_filters"])
        return super().render(template, **kwargs)


def _many_to_one(relationship: Any) -> bool:
    return relationship.direction is RelationshipDirection.MANYTOONE


def _default_sort_names(default_sort: Any) -> set[str]:
    """Column names in Flask-Admin's ``column_default_sort``: a name, ``(name, desc)`` or a list of
    either."""
    if not default_sort:
        return set()
    entries = default_sort if isinstance(default_sort, list) else [default_sort]
    return {entry[0] if isinstance(entry, tuple) else entry for entry in entries}
