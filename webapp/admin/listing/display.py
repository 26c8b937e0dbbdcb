"""Values as people read them: on lists, on details pages, and in CSV exports.

Lists are for scanning (short dates with the exact value on hover, labels instead of stored
values, icons for booleans, long text cut short); details pages show everything; exports are plain
text a spreadsheet can take (and that cannot smuggle a formula into it).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from webapp.admin.listing.row_urls import row_url
from webapp.formatting import display_zone, format_datetime_full, format_number, formula_guarded, joined_names
from webapp.models.enums import LabelledEnum

LIST_TEXT_LIMIT = 80


def timestamp(value: datetime, zone: ZoneInfo | None = None) -> Markup:
    # Runs for every date of every row: one formatting (the short form is the start of the full
    # one), and plain string building rather than Markup.format, which costs five times more.
    full = format_datetime_full(value, zone)
    return Markup(f'<time datetime="{value.isoformat()}" title="{full}">{full[:16]}</time>')


def _icon(name: str, label: str) -> Markup:
    # An image role: a plain span may not carry a name (aria-label) that screen readers would read.
    return Markup('<span class="fa {}" title="{}" role="img" aria-label="{}"></span>').format(name, label, label)


# Two values, drawn once: a list of active flags would otherwise format the same markup per row.
ICONS = {True: _icon("fa-check-circle text-success", "Yes"), False: _icon("fa-minus-circle text-muted", "No")}


def icon(value: bool) -> Markup:
    return ICONS[bool(value)]


def enum_label(value: enum.Enum) -> str:
    return value.label if isinstance(value, LabelledEnum) else value.name.replace("_", " ").capitalize()


def shortened(value: str) -> Markup | str:
    if len(value) <= LIST_TEXT_LIMIT:
        return value
    return Markup('<span title="{}">{}…</span>').format(value, value[: LIST_TEXT_LIMIT - 1].rstrip())


def pretty_json(value: dict[str, Any]) -> Markup:
    if not value:
        return Markup('<span class="text-muted">{}</span>').format("(empty)")
    return Markup('<pre class="mb-0">{}</pre>').format(json.dumps(value, indent=2, ensure_ascii=False))


def paragraphs(value: str) -> Markup:
    return Markup('<div class="text-prewrap">{}</div>').format(value)


def number(value: int | float) -> str:
    return format_number(value)


def person_link(view: Any, context: Any, model: Any, name: str) -> Markup | str:
    """A task's owner or a post's author: the name, the email on hover, a link to the user."""
    person = getattr(model, name)
    return "" if person is None else related_link(person)


def related_link(row: Any) -> Markup:
    """A related record as lists show it: its name (a person's, else its label), linked to its
    page, the email on hover."""
    email = getattr(row, "email", None)
    name = getattr(row, "full_name", None) or email or str(row)
    href = row_url(f"{type(row).__name__.lower()}.details_view", row.id)
    return Markup(f'<a href="{escape(href)}" title="{escape(email or name)}">{escape(name)}</a>')


def _view_formatter(function: Any) -> Any:
    """Flask-Admin calls type formatters as ``(view, value, name)``; ours only need the value."""
    return lambda view, value, name: function(value)


def _view_timestamp(view: Any, value: datetime, name: str) -> Markup:
    """A date of a list, in the display zone of the view's app (no lookup of the current app)."""
    app = getattr(view.admin, "app", None)
    return timestamp(value, None if app is None else display_zone(app))


def _empty(view: Any, value: None, name: str) -> str:
    return ""


def _list_of(display: Any) -> Any:
    return lambda view, values, name: ", ".join(str(display(item)) for item in values)


def _as_is(view: Any, value: Markup, name: str) -> Markup:
    return value


# Order matters: Flask-Admin takes the first type that matches (and applies it to the output of
# column formatters too): HTML built by a column formatter is a str, bool is an int, our enums
# are str.
LIST_FORMATTERS: dict[type, Any] = {
    Markup: _as_is,
    type(None): _empty,
    bool: _view_formatter(icon),
    enum.Enum: _view_formatter(enum_label),
    datetime: _view_timestamp,
    int: _view_formatter(number),
    float: _view_formatter(number),
    str: _view_formatter(shortened),
    dict: _view_formatter(lambda value: shortened(json.dumps(value, ensure_ascii=False))),
    list: _list_of(str),
}

DETAIL_FORMATTERS: dict[type, Any] = {
    **LIST_FORMATTERS,
    str: _view_formatter(paragraphs),
    dict: _view_formatter(pretty_json),
}


class TypeFormatters:
    """Flask-Admin's type formatter choice (the first entry whose type the value is an instance
    of), remembered per value type: Flask-Admin walks the formatters with ``isinstance`` for every
    cell, some 350 times a list page and seven million times for an export of a million rows of
    seven columns."""

    def __init__(self, view: Any, formatters: Mapping[type, Any]) -> None:
        self.view = view
        self.formatters = formatters
        self.by_type: dict[type, Any] = {}

    def format(self, value: Any, name: str) -> Any:
        value_type = type(value)
        try:
            formatter = self.by_type[value_type]
        except KeyError:
            formatter = self.by_type[value_type] = self._first_match(value_type)
        return value if formatter is None else formatter(self.view, value, name)

    def _first_match(self, value_type: type) -> Any:
        for formatter_type, formatter in self.formatters.items():
            if issubclass(value_type, formatter_type):
                return formatter
        return None


def _guarded(function: Any) -> Any:
    """An export formatter whose text never starts like a formula (a spreadsheet would run it)."""

    def formatter(view: Any, value: Any, name: str) -> str:
        return formula_guarded(function(value))

    return formatter


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# One CSV cell per type: readable, complete, and never starting like a formula (numbers excepted:
# "-5" is a number to a spreadsheet). Flask-Admin takes the first type that matches, and the export
# looks each value type up once (webapp/admin/listing/cells.py): bool before int (a bool is an int), enums
# before int and object (an enum may be an int or, like ours, a str).
EXPORT_FORMATTERS: dict[type, Any] = {
    type(None): _empty,
    bool: _view_formatter(_yes_no),
    enum.Enum: _guarded(enum_label),
    datetime: _guarded(format_datetime_full),
    int: _view_formatter(str),
    float: _view_formatter(str),
    dict: _guarded(lambda value: json.dumps(value, ensure_ascii=False)),
    list: _guarded(joined_names),  # a tag list: names with a comma quoted, as the import reads them
    tuple: _guarded(joined_names),
    object: _guarded(str),
}
