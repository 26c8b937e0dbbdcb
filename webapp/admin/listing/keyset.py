"""Keyset ("next page") navigation for list views, flat at any depth.

``OFFSET 500000`` makes PostgreSQL walk and throw away half a million index entries (1.5 s on the
benchmark data); "the 50 rows after this one" in the list's own order is an index range scan that
costs the same on the first page and the last. Offsets stay for the first pages; the "Next" link
carries a cursor — the sort key of the page's last row — in the ``after`` query argument.

It follows the view's default sort, which must end in a unique column (the primary key) so no two
rows tie, and run in one direction so the whole key compares as a single row value.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from flask import flash, request
from sqlalchemy import tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from webapp.admin.mixin_bases import ModelViewMixinBase

CURSOR_ARGUMENT = "after"


class InvalidCursor(ValueError):
    """The ``after`` argument is not a cursor this list produced (edited, truncated, stale)."""


def encode_cursor(values: tuple[Any, ...]) -> str:
    """A URL-safe token of a row's sort key (datetimes as ISO 8601 with their offset)."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(token: str, columns: tuple[InstrumentedAttribute[Any], ...]) -> tuple[Any, ...]:
    """The sort key inside ``token``, each value checked against its column's Python type."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("not a page cursor") from None
    if not isinstance(raw, list) or len(raw) != len(columns):
        raise InvalidCursor("a cursor for another list")
    return tuple(_typed(value, column) for value, column in zip(raw, columns, strict=True))


def _typed(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime, which reports ``object``
        column_type = column_type.impl_instance
    python_type = column_type.python_type
    if python_type is datetime and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidCursor("a malformed time in the cursor") from None
        if parsed.tzinfo is None:
            raise InvalidCursor("a time without its offset in the cursor")
        return parsed
    if python_type is int and isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:  # SQLite cannot bind it, and no row has it
            raise InvalidCursor(f"a value out of range for {column.key}")
        return value
    if python_type is str and isinstance(value, str):
        return value
    raise InvalidCursor(f"a value of the wrong type for {column.key}")


class KeysetPaginationMixin(ModelViewMixinBase):
    """Serves ``?after=<cursor>`` with a range condition instead of an offset.

    Only the default sort is keyset-paginated (an operator who sorts by another column gets the
    numbered pager); search and filters still apply. ``keyset_next_url(rows)`` gives the template
    the "Next" link. It fills the list page's ``page_after`` hook (``list_page.py``), which leaves
    a keyset page's count uncorrected: the correction from the rows on a page assumes an offset.
    """

    model: Any
    endpoint: str
    column_default_sort: Any
    page_size: int

    def keyset_columns(self) -> tuple[InstrumentedAttribute[Any], ...]:
        sort = self.column_default_sort
        if not isinstance(sort, list) or not sort:
            raise TypeError(f"{type(self).__name__}: keyset pagination needs a list column_default_sort")
        directions = {descending for _name, descending in sort}
        if len(directions) != 1:
            raise TypeError(f"{type(self).__name__}: keyset pagination needs one sort direction")
        columns = tuple(getattr(self.model, name) for name, _descending in sort)
        if not columns[-1].primary_key:
            raise TypeError(f"{type(self).__name__}: the default sort must end with the primary key")
        return columns

    def keyset_descending(self) -> bool:
        return bool(self.column_default_sort[0][1])

    def requested_cursor(self) -> tuple[Any, ...] | None:
        """The cursor in the request, or None; a bad one is reported and the list starts over.

        Only the list page reads it: the export link carries the list's arguments, cursor
        included, and must export the whole list, not what follows one page.
        """
        token = request.args.get(CURSOR_ARGUMENT)
        if not token or request.endpoint != f"{self.endpoint}.index_view":
            return None
        try:
            return decode_cursor(token, self.keyset_columns())
        except InvalidCursor:
            flash("That page link is not valid any more; showing the first page.", "warning")
            return None

    def adjusted_list_arguments(self, arguments: Any) -> Any:
        # Flask-Admin carries unknown arguments into every link it builds (sort, search, page
        # numbers, the filter form): a cursor kept there would start a new sort or filter in the
        # middle. Only the "Next" link (``keyset_next_url``) carries one.
        arguments = super().adjusted_list_arguments(arguments)
        arguments.extra_args.pop(CURSOR_ARGUMENT, None)
        return arguments

    def page_after(self, sort_column: Any) -> Any:
        """``(key) < (cursor)`` (or ``>``, ascending) for a page after the request's cursor, in the
        default sort only; the list page then takes the page size from there, with no offset."""
        cursor = self.requested_cursor() if sort_column is None else None
        if cursor is None:
            return super().page_after(sort_column)
        key = tuple_(*self.keyset_columns())
        return key < tuple_(*cursor) if self.keyset_descending() else key > tuple_(*cursor)

    def keyset_next_url(self, rows: list[Any]) -> str | None:
        """The "Next" link after ``rows`` (None on a short last page or under another sort)."""
        if request.args.get("sort") is not None or not rows:
            return None
        size = self.get_safe_page_size(request.args.get("page_size", 0, type=int))
        if len(rows) < size:
            return None
        last = rows[-1]
        cursor = encode_cursor(tuple(getattr(last, column.key) for column in self.keyset_columns()))
        arguments = {name: value for name, value in request.args.items(multi=True) if name != "page"}
        arguments[CURSOR_ARGUMENT] = cursor
        return self.get_url(".index_view", **arguments)
