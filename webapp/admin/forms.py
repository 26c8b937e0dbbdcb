"""Form fields and validators: every bad input gets a message next to its field, before any write.

Flask-Admin builds fields from column types; ``ModelConverter`` teaches it our types (aware UTC
timestamps, labelled enums, JSON documents that must be objects). The validators cover what the
database would otherwise refuse with an error page: case-insensitive uniqueness (naming the trash
when a deleted row holds the value), colours, and dates no one means.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model.form import converts
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import Field, Form, HiddenField, SelectChoice, SelectField, TextAreaField, ValidationError
from wtforms.validators import Regexp

from webapp.admin.datetimes import LocalDateTimeField
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


class JSONObjectField(TextAreaField):
    """Metadata typed as JSON; anything but an object (a list, a number, a string) is refused."""

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
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValueError(f"Not valid JSON: {error}.") from None
        if not isinstance(value, dict):
            raise ValueError('Enter a JSON object, for example {"sprint": 12}.')
        self.data = value


class OpenedVersionField(HiddenField):
    """The row version the form was opened at; compared on save, never written to the row."""

    def populate_obj(self, obj: Any, name: str) -> None:
        """The version column belongs to SQLAlchemy's optimistic locking, not to the form."""

    def opened_version(self) -> int | None:
        try:
            return int(self.data)
        except (TypeError, ValueError):
            return None


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


class ModelConverter(AdminModelConverter):
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
