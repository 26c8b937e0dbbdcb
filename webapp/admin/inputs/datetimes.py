"""Timestamps in forms and filters: operators type local time, the database keeps aware UTC.

Flask-Admin picks form fields and filters by the column type's *name*, and our ``UTCDateTime``
type is unknown to it; the converters (``forms.ModelConverter``, ``filters.FilterConverter``) use
these classes, which make every parsed value timezone-aware in the configured display time zone
(naive values would be ambiguous and are refused by the type).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.form import DateTimeField
from wtforms.widgets import DateTimeLocalInput

from webapp.admin.mixin_bases import FilterMixinBase
from webapp.formatting import local_time


def display_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])


# Converting to UTC near year 1 or 9999 overflows; no record of ours lives outside these years.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def localize(value: datetime) -> datetime:
    """Read a naive value typed by an operator as a time in the display time zone."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"Enter a date between the years {EARLIEST_YEAR} and {LATEST_YEAR}.")
    return value if value.tzinfo else value.replace(tzinfo=display_zone())


# What the field accepts: the browser's own date and time input sends the first form (seconds
# included, as ``step=1`` asks); the others are what an operator or a script may type or post.
LOCAL_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class LocalDateTimeField(DateTimeField):
    """A date and time in the display time zone, typed or picked in the browser's own
    ``datetime-local`` input. Flask-Admin's date picker widget rewrote every keystroke (a typed
    date became "0002-01-01 00:00:00027-03-01…"), ignored Escape and could not be used without a
    mouse; the browser's input can be typed into, picked from and read by a screen reader."""

    widget = DateTimeLocalInput()
    data: datetime | None  # WTForms sets it per form; Flask-Admin's field declares no type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("format", LOCAL_DATETIME_FORMATS)
        kwargs.setdefault("render_kw", {"step": "1"})
        super().__init__(*args, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return local_time(self.data).strftime(self.format[0]) if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            try:
                self.data = localize(self.data)
            except ValueError as error:
                self.data = None
                raise ValueError(str(error)) from None
            self.data = self.unchanged_or(self.data)

    def unchanged_or(self, typed: datetime) -> datetime:
        """The stored value when ``typed`` is what the form showed of it: the form shows seconds,
        the database keeps microseconds, and a save that only changed the title must not record
        (and write) a due date moved by a fraction of a second."""
        stored = self.object_data
        if isinstance(stored, datetime) and stored.tzinfo is not None and stored.replace(microsecond=0) == typed:
            return stored
        return typed


class LocalizedFilterMixin(FilterMixinBase):
    def validate(self, value: str) -> bool:
        """A value the filter cannot apply makes it invalid (ignored with a message, as any
        malformed filter) rather than failing in ``apply``: Flask-Admin's range filter validates
        without cleaning, a year outside 1900-2200 is refused by ``localize``, and a valid local
        time such as 9999-12-31 23:59 in New York has no UTC datetime (OverflowError when bound)."""
        if not super().validate(value):
            return False
        try:
            cleaned = self.clean(value)
            for moment in cleaned if isinstance(cleaned, list) else [cleaned]:
                moment.astimezone(UTC)
        except (ValueError, OverflowError):
            return False
        return True

    def clean(self, value: str) -> Any:
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [localize(item) for item in cleaned]
        return localize(cleaned)


def _localized(filter_class: type) -> type:
    return type(f"Local{filter_class.__name__}", (LocalizedFilterMixin, filter_class), {})


# Ranges are what operators ask of dates ("created last week", "due before Friday"); exact
# equality on a timestamp never matches anything typed by hand.
LOCAL_DATETIME_FILTERS = tuple(
    _localized(filter_class)
    for filter_class in (
        sqla_filters.DateTimeBetweenFilter,
        sqla_filters.DateTimeGreaterFilter,
        sqla_filters.DateTimeSmallerFilter,
    )
)
