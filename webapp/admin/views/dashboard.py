"""The dashboard page, its JSON and its actions, inside the admin at ``/admin/dashboard/``.

The page is rendered whole on the server (readable without scripts); ``dashboard.js`` then
refreshes it from ``data.json``: both render the same report, and the column definitions live
once, in the template, where the script reads them from the table headers.

Pages reached from it, each read under the dashboard's time limits and failing alone: a
statement's plan (``plan``; ``analyze`` for admins), index advice (``indexes``), the statement
history (``statements``), and, for admins, cancelling or terminating a backend (``backend``).
Every input is checked before anything runs: a malformed one is a 400 naming it, changing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from webapp import audit, database_limits
from webapp.admin.base import ProtectedView
from webapp.auth.permissions import current_operator_has
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models.enums import AuditAction, OperatorRole
from webapp.monitoring import backends, current_monitoring, plans
from webapp.monitoring.index_advice import index_advice
from webapp.monitoring.report import (
    HISTORY_RANGES,
    PanelError,
    PanelReader,
    as_data,
    build_report,
    reset_statistics,
)
from webapp.monitoring.sql_text import normalize, safe_text
from webapp.monitoring.statement_history import WINDOWS, history_report
from webapp.monitoring.store import SlowQueryStat

REFRESH_SECONDS = 5
DEFAULT_HOURS = 1
FINGERPRINT = re.compile(r"[0-9a-f]{16}")
MAX_STATEMENT_CHARS = 20_000
LARGEST_BIGINT = 2**63 - 1
STATEMENT_TEXT = text(
    "SELECT query FROM pg_stat_statements "
    "WHERE queryid = :queryid AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
)
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


def table_columns(columns: list[tuple[str, str, str]]) -> list[tuple[str, str, str, str]]:
    """A table's (key, label, format) columns with the class of their cells, worked out once per
    table rather than once per cell (a page draws some 1,500 cells)."""
    return [(key, label, kind, _cell_class(kind)) for key, label, kind in columns]


def _cell_class(kind: str) -> str:
    if kind in NUMERIC_FORMATS:
        return "text-right"
    return "dashboard-name" if kind == "name" else ""


def _requested_hours() -> int:
    choices = {str(hours): hours for hours in HISTORY_RANGES}
    requested = request.args.get("hours", str(DEFAULT_HOURS))
    if requested not in choices:
        abort(400, description=f"hours must be one of {', '.join(choices)}")
    return choices[requested]


def _bigint_argument(name: str) -> int:
    raw = request.values.get(name, "").strip()
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be a whole number")
    if not -LARGEST_BIGINT - 1 <= value <= LARGEST_BIGINT:
        abort(400, description=f"{name} is out of range")
    return value


def _fingerprint_argument() -> str:
    fingerprint = request.values.get("fingerprint", "").strip()
    if not FINGERPRINT.fullmatch(fingerprint):
        abort(400, description="fingerprint must be 16 hexadecimal characters (as shown on the dashboard)")
    return fingerprint


def _statement_to_plan(connection: Connection) -> tuple[str, str]:
    """The stored text ``?fingerprint=`` or ``?queryid=`` names, and how to call it."""
    if "fingerprint" in request.args:
        fingerprint = _fingerprint_argument()
        query = connection.scalar(select(SlowQueryStat.query).where(SlowQueryStat.fingerprint == fingerprint))
        if query is None:
            abort(404, description=f"No captured slow statement has the fingerprint {fingerprint}.")
        return query, f"captured slow statement {fingerprint}"
    if "queryid" in request.args:
        queryid = _bigint_argument("queryid")
        query = connection.scalar(STATEMENT_TEXT, {"queryid": queryid})
        if query is None:
            abort(404, description=f"pg_stat_statements has no statement {queryid} in this database.")
        return query, f"pg_stat_statements entry {queryid}"
    abort(400, description="Say which statement: ?fingerprint= (a captured one) or ?queryid= (pg_stat_statements)")


def _plan_or_reason(read: Callable[[Connection], plans.Plan]) -> plans.Plan | PanelError:
    """A plan, or why there is none: refused by the checks, or failed in the database (alone)."""
    try:
        return PanelReader(db.session).read(read)
    except plans.PlanRefused as refused:
        return PanelError(str(refused))


class DashboardView(ProtectedView):
    """Any signed-in operator reads; what changes something or runs a statement is for admins."""

    endpoint_roles: ClassVar[dict[str, OperatorRole]] = {
        "reset": OperatorRole.ADMIN,
        "analyze": OperatorRole.ADMIN,
        "backend": OperatorRole.ADMIN,
        "signal_backend": OperatorRole.ADMIN,
    }

    def _report(self) -> dict[str, Any]:
        database_limits.use_limits(database_limits.dashboard_limits())
        data = as_data(build_report(current_monitoring(), db.session, REFRESH_SECONDS, _requested_hours()))
        return _with_links(data)

    @expose("/")
    def index(self) -> str:
        return self.render(
            "admin/dashboard.html",
            report=self._report(),
            history_ranges=list(HISTORY_RANGES),
            can_reset=current_operator_has(OperatorRole.ADMIN),
            lookup=lookup,
            figure=figure,
            table_columns=table_columns,
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

    def _render_page(self, template: str, status: int = 200, **context: Any) -> Any:
        """A page reached from the dashboard; its data is the ``report`` the table macros read."""
        report = {"generated_at": utcnow().isoformat(), **context}
        page = self.render(template, report=report, lookup=lookup, figure=figure, table_columns=table_columns)
        return page if status == 200 else (page, status)

    def _postgres_only(self) -> None:
        if db.engine.dialect.name != "postgresql":
            abort(404, description="Plans, index advice, statement history and backends need PostgreSQL.")

    @expose("/plan")
    def plan(self) -> Any:
        """The generic plan of a captured fingerprint or a pg_stat_statements entry."""
        self._postgres_only()
        database_limits.use_limits(database_limits.dashboard_limits())
        statement, source = _statement_to_plan(db.session.connection())
        plan = _plan_or_reason(lambda connection: plans.generic_plan(connection, statement))
        return self._render_page(
            "admin/dashboard_plan.html", plan=_plan_data(plan), source=source, statement=safe_text(statement)
        )

    @expose("/analyze", methods=("POST",))
    def analyze(self) -> Any:
        """EXPLAIN ANALYZE of a SELECT an admin typed in (with its values), rolled back, audited."""
        self._postgres_only()
        statement = request.form.get("statement", "").strip()
        if not statement or len(statement) > MAX_STATEMENT_CHARS:
            abort(400, description=f"statement: give one SELECT of at most {MAX_STATEMENT_CHARS:,} characters")
        try:
            plans.read_only_select(statement)
        except plans.PlanRefused as refused:
            return self._render_page(
                "admin/dashboard_plan.html", 400, plan=None, refused=str(refused), source="", typed=statement
            )
        database_limits.use_limits(database_limits.dashboard_limits())
        plan = _plan_or_reason(lambda connection: plans.analyzed_plan(connection, statement))
        fingerprint = normalize(statement).fingerprint
        outcome = "failed: " + plan.error if isinstance(plan, PanelError) else f"took {plan.execution_ms:.1f} ms"
        audit.record_event(
            AuditAction.EXPLAIN, "Statement", fingerprint, f"EXPLAIN ANALYZE {safe_text(statement)} ({outcome})"
        )
        db.session.commit()
        return self._render_page(
            "admin/dashboard_plan.html",
            plan=_plan_data(plan),
            source=f"EXPLAIN ANALYZE of statement {fingerprint}, rolled back",
            statement=safe_text(statement),
            typed=statement,
        )

    @expose("/indexes")
    def indexes(self) -> Any:
        self._postgres_only()
        database_limits.use_limits(database_limits.dashboard_limits())
        advice = PanelReader(db.session).read(index_advice)
        return self._render_page("admin/dashboard_indexes.html", advice=as_data(advice))

    @expose("/statements")
    def statements(self) -> Any:
        self._postgres_only()
        window = request.args.get("window", "24h")
        if window not in WINDOWS:
            abort(400, description=f"window must be one of {', '.join(WINDOWS)}")
        database_limits.use_limits(database_limits.dashboard_limits())
        percent = current_monitoring().thresholds.regression_percent
        history = PanelReader(db.session).stored(lambda connection: history_report(connection, window, percent))
        return self._render_page(
            "admin/dashboard_history.html", history=_with_links(as_data(history)), windows=list(WINDOWS)
        )

    @expose("/backend/<int:pid>")
    def backend(self, pid: int) -> Any:
        """The confirmation: which statement, by fingerprint, a cancel or terminate would stop."""
        self._postgres_only()
        database_limits.use_limits(database_limits.dashboard_limits())
        found = backends.find_backend(db.session.connection(), pid)
        if found is None:
            abort(404, description=f"Backend {pid} is not another connection to this database (any more).")
        return self._render_page("admin/dashboard_backend.html", backend=as_data(found))

    @expose("/backend/<int:pid>/signal", methods=("POST",))
    def signal_backend(self, pid: int) -> Response:
        self._postgres_only()
        signal = request.form.get("signal", "")
        fingerprint = _fingerprint_argument()
        try:
            query_start = datetime.fromisoformat(request.form.get("query_start", ""))
        except ValueError:
            abort(400, description="query_start must be the time shown on the confirmation")
        database_limits.use_limits(database_limits.dashboard_limits())
        try:
            stopped = backends.signal_backend(db.session.connection(), pid, fingerprint, query_start, signal)
        except backends.SignalRefused as refused:
            flash(str(refused), "warning")
            return redirect(url_for(".index"))
        verb = "Cancelled the statement" if signal == "cancel" else "Terminated the connection running"
        summary = f"{verb} {fingerprint} ({stopped.query[:200]}) of backend {pid} ({stopped.application_name})"
        audit.record_event(AuditAction(signal), "Backend", str(pid), summary)
        db.session.commit()
        flash(summary + ".", "success")
        return redirect(url_for(".index"))


def _plan_data(plan: plans.Plan | PanelError) -> dict[str, Any]:
    data: dict[str, Any] = as_data(plan)
    if isinstance(plan, plans.Plan):
        data["flagged"] = plan.flagged
    return data


def _with_links(data: Any) -> Any:
    """Rows that name a statement get the address of its plan (and a backend its confirmation).

    Changes the fresh data of ``as_data`` in place, walking only its dicts and lists."""
    children: Iterable[Any]
    if isinstance(data, dict):
        if FINGERPRINT.fullmatch(str(data.get("fingerprint", ""))) and "request_path" in data:
            data["plan_url"] = url_for(".plan", fingerprint=data["fingerprint"])
        elif isinstance(data.get("queryid"), int):
            data["plan_url"] = url_for(".plan", queryid=data["queryid"])
        if "pid" in data and "seconds" in data and current_operator_has(OperatorRole.ADMIN):
            data["stop_url"] = url_for(".backend", pid=data["pid"])
        children = data.values()
    elif isinstance(data, list):
        children = data
    else:
        return data
    for child in children:
        if isinstance(child, dict | list):
            _with_links(child)
    return data
