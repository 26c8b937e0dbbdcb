"""The dashboard page, its JSON and the reset action, inside the admin at ``/admin/dashboard/``.

The page is rendered whole on the server (readable without scripts); ``dashboard.js`` then
refreshes it from ``data.json``: both render the same report, and the column definitions live
once, in the template, where the script reads them from the table headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from werkzeug.wrappers import Response

from webapp import audit, database_limits
from webapp.admin.base import ProtectedView
from webapp.auth.permissions import current_operator_has
from webapp.extensions import db
from webapp.models.enums import AuditAction, OperatorRole
from webapp.monitoring import current_monitoring
from webapp.monitoring.report import HISTORY_RANGES, as_data, build_report, reset_statistics

REFRESH_SECONDS = 5
DEFAULT_HOURS = 1
BYTE_UNITS = ("B", "kB", "MB", "GB", "TB")
NUMERIC_FORMATS = ("count", "ms", "duration", "seconds", "percent", "bytes")


def lookup(data: Any, path: str) -> Any:
    """``lookup(report, "pool.totals.idle")``: the template's twin of the script's lookup."""
    for key in path.split("."):
        if isinstance(data, list) and key == "length":
            return len(data)
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _milliseconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _duration(milliseconds: float) -> str:
    """A long total in the largest unit that keeps it readable (63,750,000 ms is 17.7 h)."""
    for size, unit in ((3_600_000, "h"), (60_000, "min"), (1_000, "s")):
        if milliseconds >= size:
            return f"{milliseconds / size:,.1f} {unit}"
    return f"{milliseconds:.0f} ms"


def _bytes(value: float) -> str:
    unit = 0
    while value >= 1024 and unit < len(BYTE_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.0f} {BYTE_UNITS[unit]}" if unit == 0 else f"{value:.1f} {BYTE_UNITS[unit]}"


def _ago(value: str, now: str) -> str:
    seconds = max((datetime.fromisoformat(now) - datetime.fromisoformat(value)).total_seconds(), 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


FORMATS = {
    "count": lambda value, now: f"{value:,.0f}",
    "ms": lambda value, now: _milliseconds(value),
    "duration": lambda value, now: _duration(value),
    "seconds": lambda value, now: f"{value:,.1f} s",
    "percent": lambda value, now: f"{value * 100:.1f} %",
    "bytes": lambda value, now: _bytes(value),
    "ago": _ago,
    "status": lambda value, now: "stale" if value else "live",
    "clock": lambda value, now: datetime.fromisoformat(value).strftime("%H:%M:%S UTC"),
}


def figure(value: Any, kind: str, now: str) -> str:
    """A value as shown in a tile or cell; ``dashboard.js`` formats the same kinds the same way."""
    if value is None or value == "":
        return "—"
    format_value = FORMATS.get(kind)
    return str(value) if format_value is None else format_value(value, now)


def _requested_hours() -> int:
    choices = {str(hours): hours for hours in HISTORY_RANGES}
    requested = request.args.get("hours", str(DEFAULT_HOURS))
    if requested not in choices:
        abort(400, description=f"hours must be one of {', '.join(choices)}")
    return choices[requested]


class DashboardView(ProtectedView):
    """Any signed-in operator reads; resetting the statistics is for admins."""

    def role_for_endpoint(self, name: str) -> OperatorRole:
        if name == "reset":
            return OperatorRole.ADMIN
        return super().role_for_endpoint(name)

    def _report(self) -> dict[str, Any]:
        database_limits.use_limits(database_limits.dashboard_limits())
        return as_data(build_report(current_monitoring(), db.session, REFRESH_SECONDS, _requested_hours()))

    @expose("/")
    def index(self) -> str:
        return self.render(
            "admin/dashboard.html",
            report=self._report(),
            history_ranges=list(HISTORY_RANGES),
            can_reset=current_operator_has(OperatorRole.ADMIN),
            lookup=lookup,
            figure=figure,
            numeric_formats=NUMERIC_FORMATS,
        )

    @expose("/data.json")
    def data(self) -> Response:
        return jsonify(self._report())

    @expose("/reset", methods=("POST",))
    def reset(self) -> Response:
        outcome = reset_statistics(current_monitoring(), db.session.connection())
        audit.record_event(
            AuditAction.DELETE, "Statistics", "dashboard", "Reset the dashboard statistics: " + " ".join(outcome)
        )
        db.session.commit()
        for message in outcome:
            flash(message, "success")
        return redirect(url_for(".index"))
