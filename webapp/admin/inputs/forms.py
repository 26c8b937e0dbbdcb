"""Form fields and validators: every bad input gets a message next to its field, before any write.

Flask-Admin builds fields from column types; ``ModelConverter`` teaches it our types (aware UTC
timestamps, labelled enums, JSON documents that must be objects). The validators cover what the
database would otherwise refuse with an error page: case-insensitive uniqueness (naming the trash
when a deleted row holds the value), colours, and dates no one means.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model.fields import AjaxSelectMultipleField
from flask_admin.model.form import converts
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import Field, Form, HiddenField, SelectChoice, SelectField, TextAreaField, ValidationError
from wtforms.form import BaseForm
from wtforms.validators import Regexp

from webapp.admin import compat
from webapp.admin.compat import ModelConverterHooks
from webapp.admin.inputs.datetimes import LocalDateTimeField
from webapp.admin.inputs.ids import parse_id
from webapp.extensions import db
from webapp.formatting import spoken_list
from webapp.models.enums import LabelledEnum
from webapp.models.tags import COLOR_PATTERN


class EnumSelectField(SelectField):
    """A select of an enum's labels that yields enum members."""

    def __init__(self, enum_class: type[LabelledEnum], **kwargs: Any) -> None:
        kwargs.pop("choices", None)
        choices = [SelectChoice(value, label) for value, label in enum_class.choices()]
        super().__init__(choices=choices, coerce=self._coercer(enum_class), **kwargs)

    @staticmethod
    def _coercer(enum_class: type[LabelledEnum]) -> Any:
        def coerce(value: Any) -> LabelledEnum:
            return value if isinstance(value, enum_class) else enum_class(value)

        return coerce

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Not a valid choice.") from None


# Metadata is a handful of labels, not a store: bounds that no real document reaches, and that
# keep a hand-made one from costing the parser (or the recursion limit) anything.
JSON_MAX_CHARACTERS = 64_000
JSON_MAX_DEPTH = 20


class JSONObjectField(TextAreaField):
    """Metadata typed as JSON; anything but an object (a list, a number, a string) is refused,
    and so is anything the database would refuse after the form said yes: NaN and Infinity
    (Python's extensions, not JSON), NUL characters and unpaired surrogates (``\\u0000`` and
    ``\\ud800`` escapes), and documents nested or sized beyond any real use."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return json.dumps(self.data or {}, indent=2, ensure_ascii=False)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if not text:
            self.data = {}
            return
        value = parse_storable_json(text)
        if not isinstance(value, dict):
            raise ValueError('Enter a JSON object, for example {"sprint": 12}.')
        self.data = value


def parse_storable_json(text: str) -> Any:
    """The JSON document ``text`` spells, if PostgreSQL's ``jsonb`` can store it; ValueError
    with the reason (for the field's message) otherwise."""
    if len(text) > JSON_MAX_CHARACTERS:
        raise ValueError(f"Too long: at most {JSON_MAX_CHARACTERS:,} characters.")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"Nested too deeply: at most {JSON_MAX_DEPTH} levels.") from None
    except ValueError as error:
        raise ValueError(f"Not valid JSON: {error}.") from None
    _check_storable(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON; use a number or null")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]} is too large a number")
    return number


def _check_storable(document: Any) -> None:
    """Walks the parsed document without recursion (its depth is what is being checked)."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > JSON_MAX_DEPTH:
            raise ValueError(f"Nested too deeply: at most {JSON_MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key in value:
                _check_storable_text(key)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_storable_text(value)


def _check_storable_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("Text in JSON cannot hold a NUL character (\\u0000).")
    if any("\ud800" <= character <= "\udfff" for character in text):
        raise ValueError("Text in JSON cannot hold an unpaired surrogate (\\ud800–\\udfff).")


# More tags than anyone puts on one record; each id costs a lookup.
MAX_CHOSEN = 100


class StrictAjaxSelectMultipleField(AjaxSelectMultipleField):
    """A search-as-you-type multiple choice (tags) that refuses ids it cannot find.

    Flask-Admin's field drops an unknown id silently (it notices only when the data is read,
    after validation), so a crafted or stale id removed tags, all of them when it was the only
    one. Here every id must name a row the picker offers, or the whole field is refused."""

    def pre_validate(self, form: BaseForm) -> None:
        posted = compat.posted_values(self)
        chosen = {item.strip() for item in posted if item.strip()}
        if len(chosen) > MAX_CHOSEN:
            raise ValidationError(f"Choose at most {MAX_CHOSEN} at once.")
        rows = [self.loader.get_one(item) for item in chosen]
        if any(row is None for row in rows):
            raise ValidationError("Not a valid choice: one of the chosen entries does not exist (any more).")
        if posted:  # nothing posted: the field was not on the form at all, and keeps its value
            self.data = rows


class OpenedVersionField(HiddenField):
    """The row version the form was opened at; compared on save, never written to the row."""

    def populate_obj(self, obj: Any, name: str) -> None:
        """The version column belongs to SQLAlchemy's optimistic locking, not to the form."""

    def opened_version(self) -> int | None:
        """The version as posted, if it is one (an ASCII number in the column's range). Not
        ``data``: a form posted without the field takes that from the row, which always matches."""
        return parse_id(self.raw_data[0]) if self.raw_data else None


class UniqueIgnoringCase:
    """The value is not used by another row, in any letter case (as the unique indexes say).

    Soft-deleted rows keep their values (a restore must never collide), so the message says when
    the holder is in the trash: the operator can restore it instead of wondering.
    """

    def __init__(self, column: Any, key: tuple[Any, Callable[[str], str]] | None = None) -> None:
        """``key``: a stored comparison key and the function that computes it from a value (a tag's
        ``name_key``), to compare instead of ``lower()`` of the column."""
        self.column = column
        self.model = column.class_
        compared, keyed = key or (func.lower(column), _lowered)
        self.compared: Any = compared
        self.key: Callable[[str], str] = keyed

    def __call__(self, form: Form, field: Field) -> None:
        if not field.data:
            return
        model = self.model
        query = select(model).where(self.compared == self.key(str(field.data)))
        current = getattr(form, "_obj", None)
        if current is not None and current.id is not None:
            query = query.where(model.id != current.id)
        holder = db.session.scalars(query.limit(1)).first()
        if holder is None:
            return
        taken_as = getattr(holder, self.column.key)
        noun = model.__name__.lower()
        if getattr(holder, "is_deleted", False):
            raise ValidationError(
                f"“{taken_as}” belongs to a deleted {noun} in the trash; restore it there or choose another."
            )
        raise ValidationError(f"“{taken_as}” is already taken by another {noun}.")


def _lowered(value: str) -> str:
    return value.strip().lower()


class YearBetween:
    """Refuses dates nobody means (a year typed as 20256, or 1970 from an empty clock)."""

    def __init__(self, first: int = 2000, last: int = 2100) -> None:
        self.first, self.last = first, last

    def __call__(self, form: Form, field: Field) -> None:
        value: datetime | None = field.data
        if value is not None and not self.first <= value.year <= self.last:
            raise ValidationError(f"Enter a date between {self.first} and {self.last}.")


HEX_COLOUR = Regexp(COLOR_PATTERN, message="Enter a colour as #RRGGBB, for example #17a2b8.")


class ModelConverter(ModelConverterHooks, AdminModelConverter):
    def relation_field(self, prop: Any, multiple: bool, remote_model: Any, field_args: dict[str, Any]) -> Any:
        loader = compat.ajax_loader(self.view, prop.key)
        if loader and multiple:
            return StrictAjaxSelectMultipleField(loader, **field_args)
        return super().relation_field(prop, multiple, remote_model, field_args)

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args: dict[str, Any], **extra: Any) -> LocalDateTimeField:
        return LocalDateTimeField(**field_args)

    @converts("sqlalchemy.sql.sqltypes.Enum")
    def convert_enum(self, column: Any, field_args: dict[str, Any], **extra: Any) -> EnumSelectField:
        return EnumSelectField(column.type.enum_class, **field_args)

    @converts("sqlalchemy.sql.sqltypes.JSON")
    def convert_JSON(self, field_args: dict[str, Any], **extra: Any) -> JSONObjectField:
        return JSONObjectField(**field_args)


def invalid_fields(form: Form) -> list[Field]:
    """The fields of a refused form that show a message, in the form's order (hidden ones have
    nowhere to show it)."""
    return [field for field in form if field.errors and getattr(field.widget, "input_type", None) != "hidden"]


def refusal_message(fields: list[Field]) -> Markup:
    """The banner over a refused form: the fields to fix by their labels, each a link to its field
    (``static/js/admin.js`` brings a select2 picker, whose real input is hidden, into view)."""
    links = [
        Markup('<a href="#{}" class="alert-link" data-invalid-field>{}</a>').format(field.id, field.label.text)
        for field in fields
    ]
    return Markup("Nothing was saved: check {} below.").format(spoken_list(links))
