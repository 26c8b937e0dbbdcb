"""How values are shown to people: dates in one time zone, numbers with separators."""

from __future__ import annotations

import csv
import json
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from markupsafe import Markup


def display_zone(app: Flask) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(app.config["DISPLAY_TIMEZONE"])


def local_time(value: datetime, zone: zoneinfo.ZoneInfo | None = None) -> datetime:
    """``value`` in ``zone``, by default the current app's display zone (``zone`` spares a list's
    hundreds of dates the lookup of the current app)."""
    return value.astimezone(zone or display_zone(current_app))


def format_datetime(value: datetime | None) -> str:
    """Minutes are enough on a list; the full value goes in the ``title`` attribute by callers."""
    if value is None:
        return ""
    return local_time(value).strftime("%Y-%m-%d %H:%M")


def format_datetime_full(value: datetime | None, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """Seconds and the zone's abbreviation: the exact value, for hover titles and exports."""
    if value is None:
        return ""
    local = local_time(value, zone)
    if local.year < 1000:  # strftime writes such a year without leading zeros
        return local.strftime("%Y-%m-%d %H:%M:%S %Z")
    # strftime's text, built at half its cost: every date of every list row comes through here.
    return f"{local.isoformat(' ', 'seconds')[:19]} {local.tzname() or ''}"


def format_number(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,}"


def noun_for(count: float | None, singular: str, plural: str) -> str:
    """The noun that agrees with a count: 1 connection, 0 connections, 2 connections. An unknown
    count (None) takes the plural. ``static/js/dashboard.js`` has the same rule (``nounFor``)."""
    return singular if count == 1 else plural


def spoken_list(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``. Markup parts give Markup, escaping any plain part."""
    if len(parts) < 2:
        return parts[0] if parts else ""
    text = Markup if any(isinstance(part, Markup) for part in parts) else str
    return text(", ").join(parts[:-1]) + text(" and ") + parts[-1]


def _parse_timestamp(value: str) -> datetime | None:
    """Audit values keep timestamps as ISO text; only aware ones are shown as local times."""
    if len(value) < 19 or value[10] != "T":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def format_audit_value(value: Any) -> str | Markup:
    """One old or new value of an audit entry, as a person reads it."""
    if value is None or value == "" or value == []:
        return Markup('<span class="text-muted font-italic">empty</span>')
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and (timestamp := _parse_timestamp(value)) is not None:
        return format_datetime(timestamp)
    return str(value)


# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_guarded(text: str) -> str:
    """A cell a spreadsheet shows as text: a quote in front of one that would start a formula, and
    of one that starts with a quote before such a character (so :func:`unguarded` is exact)."""
    if text.startswith(FORMULA_PREFIXES) or (text.startswith("'") and text[1:].startswith((*FORMULA_PREFIXES, "'"))):
        return "'" + text
    return text


def unguarded(text: str) -> str:
    """A cell as it was before :func:`formula_guarded` (what the import reads back)."""
    if text.startswith("'") and text[1:].startswith((*FORMULA_PREFIXES, "'")):
        return text[1:]
    return text


def joined_names(names: Iterable[Any]) -> str:
    """Names in one cell, separated by commas (a tag list). A name holding a comma or a double
    quote is quoted as a CSV field is (``"a, b"``, inner quotes doubled), so :func:`split_names`
    reads the list back exactly; other names stay as people type them."""
    return ", ".join(_quoted_name(str(name)) for name in names)


def _quoted_name(name: str) -> str:
    if "," in name or '"' in name:
        return '"' + name.replace('"', '""') + '"'
    return name


def split_names(text: str) -> list[str]:
    """The names of a cell :func:`joined_names` wrote, or a person typed: split at the commas
    outside double quotes, each name unquoted (a line break counts as a space)."""
    line = text.replace("\r", " ").replace("\n", " ")
    return next(csv.reader([line], skipinitialspace=True), [])


def register_formatting(app: Flask) -> None:
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_datetime_full, "datetime_full")
    app.add_template_filter(format_number, "number")
    app.add_template_global(noun_for)
