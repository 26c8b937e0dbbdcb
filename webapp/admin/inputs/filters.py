"""List filters that use indexes: equality on enums and people, ``EXISTS`` on tags, date ranges.

Flask-Admin's defaults for these columns are text ``ILIKE '%…%'`` filters (no index can serve them)
and enum filters that look members up by *name* while offering *values*; these replace them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from flask import url_for
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.model.filters import convert
from sqlalchemy import exists, func, or_, select

from webapp.admin import compat
from webapp.admin.inputs.datetimes import LOCAL_DATETIME_FILTERS
from webapp.admin.inputs.ids import parse_id
from webapp.models import User


class EnumEqualFilter(sqla_filters.FilterEqual):
    """``status = 'active'``, chosen from the enum's labels."""

    def __init__(self, column: Any, name: str, **kwargs: Any) -> None:
        self.enum_class = column.type.enum_class
        super().__init__(column, name, options=self.enum_class.choices(), **kwargs)

    def validate(self, value: str) -> bool:
        return value in {member.value for member in self.enum_class}

    def clean(self, value: str) -> Any:
        return self.enum_class(value)

    def operation(self) -> str:
        return "is"


class PersonFilter(sqla_filters.BaseSQLAFilter):
    """Rows whose user (owner, author) has this email or username, exactly, in any letter case.

    The typed form of :class:`PickerFilter` on a person, kept so that links and bookmarks made with an
    email keep working. Equality on ``lower()`` uses the unique indexes; the list needs no join.
    """

    def clean(self, value: str) -> str:
        return value.strip().lower()

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        people = select(User.id).where(or_(func.lower(User.email) == value, func.lower(User.username) == value))
        return query.filter(self.get_column(alias).in_(people))

    def operation(self) -> str:
        return "is (email or username)"


class IdValueMixin:
    """A filter whose value is a record id: anything else is reported as an invalid value."""

    def validate(self, value: str) -> bool:
        return parse_id(value) is not None

    def clean(self, value: str) -> int | None:
        return parse_id(value)


# The filter row's value type that static/js/admin.js turns into a select2 search-as-you-type
# picker; Flask-Admin's filter script does not know it and leaves the text box to our script.
PICKER_FILTER_TYPE = "picker"


class PickerFilter(IdValueMixin, sqla_filters.BaseSQLAFilter):
    """Rows whose related record (owner, author) is the one picked: the value is its id, picked
    with the form's own search-as-you-type picker (``loader``, a ``form_ajax_refs`` name), so the
    filter searches live records through the same indexes, and the address keeps working when
    the record is renamed. With 100,000 users a select box is useless (and even a few hundred
    tags would cost the page a statement to list them); equality on the foreign key is served
    by its index."""

    def __init__(self, column: Any, name: str, loader: str) -> None:
        super().__init__(column, name, data_type=PICKER_FILTER_TYPE)
        self.loader = loader

    def apply(self, query: Any, value: int, alias: Any = None) -> Any:
        return query.filter(self.get_column(alias) == value)

    def operation(self) -> str:
        return "is"


@dataclass(frozen=True)
class FilterPicker:
    """What the page's script needs to draw a picker filter: where to search, and the labels of
    the people already picked (by id, as the address carries them)."""

    url: str
    placeholder: str
    chosen: dict[str, str]


def filter_pickers(view: Any, filters: Any, active: Any) -> dict[str, dict[str, Any]]:
    """Each picker filter of the list by its URL argument; the picked records' labels in one
    statement per filter that is active (a list has a handful of filters). Plain data, for the
    page's JSON."""
    pickers = {}
    for index, flt in enumerate(filters or ()):
        if not isinstance(flt, PickerFilter):
            continue
        loader = compat.ajax_loader(view, flt.loader)
        ids = {parse_id(value) for position, _name, value in active or () if position == index} - {None}
        rows = loader.chosen(ids) if ids else ()
        picker = FilterPicker(
            url=url_for(f"{view.endpoint}.ajax_lookup", name=flt.loader),
            placeholder=loader.options.get("placeholder", ""),
            chosen={str(row.id): str(row) for row in rows},
        )
        pickers[view.get_filter_arg(index, flt)] = asdict(picker)
    return pickers


class TagFilter(PickerFilter):
    """Rows carrying the tag picked (with the form's tag picker): ``EXISTS`` on the link table,
    served by its primary key."""

    def __init__(self, model: type[Any], name: str = "Tag", loader: str = "tags") -> None:
        self.model = model
        super().__init__(model.id, name, loader=loader)

    def apply(self, query: Any, value: int, alias: Any = None) -> Any:
        return query.filter(carries_tag(self.model, value))


def carries_tag(model: type[Any], tag_id: int) -> Any:
    """``EXISTS`` a link of the row to the tag, served by the link table's primary key."""
    link = model.tag_link_table()
    return exists().where(model.tag_link_column() == model.id, link.c.tag_id == tag_id)


class LazyChoices:
    """Filter choices read each time the list renders.

    Flask-Admin asks filters for their options once, when the view is built (before any request,
    maybe before the database exists: no session then, and rows added later would be missing),
    but iterates them again for each page: this stands in for the list and calls ``load`` only
    when the page iterates it.
    """

    def __init__(self, load: Callable[[], list[tuple[Any, str]]]) -> None:
        self.load = load

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Iterator[tuple[Any, str]]:
        return iter(self.load())


class FilterConverter(sqla_filters.FilterConverter):
    @convert("utcdatetime")
    def conv_utc_datetime(self, column: Any, name: str, **kwargs: Any) -> list[Any]:
        filters = [filter_class(column, name, **kwargs) for filter_class in LOCAL_DATETIME_FILTERS]
        if column.nullable:
            filters.append(sqla_filters.FilterEmpty(column, name, **kwargs))
        return filters

    @convert("enum")
    def conv_enum(self, column: Any, name: str, options: Any = None, **kwargs: Any) -> list[Any]:
        return [EnumEqualFilter(column, name, **kwargs)]
