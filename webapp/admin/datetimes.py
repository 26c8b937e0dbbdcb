"""Timestamps in forms and filters: operators type local time, the database keeps aware UTC.

Flask-Admin picks form fields and filters by the column type's *name*, and our ``UTCDateTime``
type is unknown to it; these converters teach it, and make every parsed value timezone-aware in
the configured display time zone (naive values would be ambiguous and are refused by the type).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from flask import current_app
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import DateTimeField
from flask_admin.model.filters import convert
from flask_admin.model.form import converts

from webapp.formatting import local_time


def display_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])


def localize(value: datetime) -> datetime:
    """Read a naive value typed by an operator as a time in the display time zone."""
    return value if value.tzinfo else value.replace(tzinfo=display_zone())


class LocalDateTimeField(DateTimeField):
    """Shows and accepts ``YYYY-MM-DD HH:MM:SS`` in the display time zone."""

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return local_time(self.data).strftime(self.format[0]) if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = localize(self.data)


class LocalizedFilterMixin:
    def clean(self, value: str) -> Any:
        cleaned = super().clean(value)  # type: ignore[misc]
        if isinstance(cleaned, list):
            return [localize(item) for item in cleaned]
        return localize(cleaned)


def _localized(filter_class: type) -> type:
    return type(f"Local{filter_class.__name__}", (LocalizedFilterMixin, filter_class), {})


LOCAL_DATETIME_FILTERS = tuple(
    _localized(filter_class) for filter_class in sqla_filters.FilterConverter.datetime_filters
)


class FilterConverter(sqla_filters.FilterConverter):
    @convert("utcdatetime")
    def conv_utc_datetime(self, column: Any, name: str, **kwargs: Any) -> list[Any]:
        return [filter_class(column, name, **kwargs) for filter_class in LOCAL_DATETIME_FILTERS]


class ModelConverter(AdminModelConverter):
    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args: dict[str, Any], **extra: Any) -> LocalDateTimeField:
        return LocalDateTimeField(**field_args)
