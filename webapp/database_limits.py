"""How long one statement may run, and wait for a lock, in each transaction (PostgreSQL).

Without a limit, a table locked by a migration (``ACCESS EXCLUSIVE``) or a pathological query
keeps a request waiting until gunicorn kills the worker: the client gets a reset, and every
worker caught the same way stops serving. Each transaction of a web request therefore starts with
``SET LOCAL``-style settings (``set_config(…, true)``, both in one statement), which end with the
transaction: that works through PgBouncer in transaction mode, where a session-level ``SET`` at
connect would apply to whichever client got the server connection next.

Web requests get ``DB_STATEMENT_TIMEOUT`` and ``DB_LOCK_TIMEOUT``; the CSV export
``DB_EXPORT_STATEMENT_TIMEOUT`` per statement (each batch of rows is one); the dashboard's
introspection at most 2 s (:func:`dashboard_limits`: it must answer when the database is
struggling, not add to it). CLI commands (``flask db upgrade``, ``seed-demo``) run outside any
request and get no limit: a migration or a million-row seed legitimately runs long, and the
server's (or the role's) defaults apply. SQLite has no such settings: there, nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from webapp.extensions import db

SET_LIMITS = text(
    "SELECT set_config('statement_timeout', :statement_timeout, true), set_config('lock_timeout', :lock_timeout, true)"
)


@dataclass(frozen=True)
class Limits:
    """Seconds; 0 means no limit."""

    statement_timeout: float
    lock_timeout: float

    def parameters(self) -> dict[str, str]:
        return {
            "statement_timeout": f"{round(self.statement_timeout * 1000)}ms",
            "lock_timeout": f"{round(self.lock_timeout * 1000)}ms",
        }


# A dashboard panel cut off by it shows as unavailable (`report.PanelReader`); the page answers.
DASHBOARD_CAP_SECONDS = 2.0


def web_limits() -> Limits:
    config = current_app.config
    return Limits(config["DB_STATEMENT_TIMEOUT"], config["DB_LOCK_TIMEOUT"])


def dashboard_limits() -> Limits:
    """The web limits, capped at :data:`DASHBOARD_CAP_SECONDS`."""
    web = web_limits()
    return Limits(_capped(web.statement_timeout), _capped(web.lock_timeout))


def _capped(seconds: float) -> float:
    return DASHBOARD_CAP_SECONDS if seconds == 0 else min(seconds, DASHBOARD_CAP_SECONDS)


def export_limits() -> Limits:
    config = current_app.config
    return Limits(config["DB_EXPORT_STATEMENT_TIMEOUT"], config["DB_LOCK_TIMEOUT"])


def _limits_for_new_transaction() -> Limits | None:
    if not has_request_context():
        return None  # a CLI command, or work outside a request: the server's defaults
    limits: Limits | None = g.get("database_limits")
    return limits or web_limits()


def _apply(connection: Connection, limits: Limits) -> None:
    connection.execute(SET_LIMITS, limits.parameters())
    if has_request_context():
        g.database_limits_sent = (connection, limits)


def _on_begin(connection: Connection) -> None:
    limits = _limits_for_new_transaction()
    if limits is not None:
        _apply(connection, limits)


def use_limits(limits: Limits) -> None:
    """Run the rest of this request under ``limits``: its transaction now (the session's, which
    may have begun already, e.g. to load the operator) and any it begins later."""
    g.database_limits = limits
    if db.engine.dialect.name != "postgresql":
        return
    connection = db.session.connection()  # a transaction that begins here gets them already
    if g.get("database_limits_sent") != (connection, limits):
        _apply(connection, limits)


def init_database_limits(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _on_begin)
