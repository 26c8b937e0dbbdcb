"""How values are shown to people: dates in one time zone, numbers with separators."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from flask import Flask, current_app


def local_time(value: datetime) -> datetime:
    return value.astimezone(zoneinfo.ZoneInfo(current_app.config["DISPLAY_TIMEZONE"]))


def format_datetime(value: datetime | None) -> str:
    """Minutes are enough on a list; the full value goes in the ``title`` attribute by callers."""
    if value is None:
        return ""
    return local_time(value).strftime("%Y-%m-%d %H:%M")


def format_datetime_full(value: datetime | None) -> str:
    """Seconds and the zone's abbreviation: the exact value, for hover titles and exports."""
    if value is None:
        return ""
    return local_time(value).strftime("%Y-%m-%d %H:%M:%S %Z")


def format_number(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,}"


def register_formatting(app: Flask) -> None:
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_datetime_full, "datetime_full")
    app.add_template_filter(format_number, "number")
