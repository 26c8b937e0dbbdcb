"""How long one statement may run, and wait for a lock, in each transaction (PostgreSQL).

Without a limit, a table locked by a migration (``ACCESS EXCLUSIVE``) or a pathological query
keeps a request waiting until gunicorn kills the worker: the client gets a reset, and every
worker caught the same way stops serving. Each transaction of a web request therefore starts with
``SET LOCAL``-style settings (``set_config(…, true)``, both in one statement), which end with the
transaction: that works through PgBouncer in transaction mode, where a session-level ``SET`` at
connect would apply to whichever client got the server connection next.

Web requests get ``DB_STATEMENT_TIMEOUT`` and ``DB_LOCK_TIMEOUT``, and no parallel workers; the CSV export
``DB_EXPORT_STATEMENT_TIMEOUT`` per statement (each batch of rows is one); the dashboard's
introspection at most 2 s (:func:`dashboard_limits`: it must answer when the database is
struggling, not add to it). CLI commands (``flask db upgrade``, ``seed-demo``) run outside any
request and get no limit: a migration or a million-row seed legitimately runs long, and the
server's (or the role's) defaults apply. SQLite has no such settings: there, nothing is sent.

The same statement is the pool's check that a connection it hands out still works. SQLAlchemy's
``pool_pre_ping`` would send ``SELECT 1`` first, one more round trip on every request: on
PostgreSQL the pre-ping is off and a check-out listener sends the limits instead, which begins
the transaction the request then uses (``begin`` does not send them again). A connection the
server has dropped fails that statement: the pool throws away every connection as old as it
and hands out a new one, so no request sees the drop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from webapp.extensions import db

# With the limits, no parallel workers: a web statement reads a page, a count's estimate or a
# stream in the list's order. At ten million tasks the planner gave the tag filter's page (walk
# the list order until 50 rows carry the tag) two workers over the other created_at index; each
# ran ahead of the LIMIT and read its own rows from the table: 1.5 s instead of 0.2 s (see
# docs/performance.md, "Ten million tasks").
SET_LIMITS = text(
    "SELECT set_config('statement_timeout', :statement_timeout, true), set_config('lock_timeout', :lock_timeout, true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)
# The check-out's own statement, for psycopg2's cursor; without limits (CLI), a plain ping.
SET_LIMITS_BY_DRIVER = (
    str(SET_LIMITS).replace(":statement_timeout", "%(statement_timeout)s").replace(":lock_timeout", "%(lock_timeout)s")
)
PING = "SELECT 1"
# In a pooled connection's ``info``: the limits its check-out began the transaction with.
LIMITS_SENT_AT_CHECKOUT = "database_limits_sent_at_checkout"
# On the pool's record (kept across its reconnections): the check just dropped a connection.
RECONNECTED = "database_limits_reconnected"
# A check failing within this long found a connection the server had already ended.
STALE_FAILS_WITHIN_SECONDS = 1.0


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
    if limits is None:
        return
    if connection.info.pop(LIMITS_SENT_AT_CHECKOUT, None) == limits:
        if has_request_context():
            g.database_limits_sent = (connection, limits)
        return
    _apply(connection, limits)


def _check_out(dialect: Dialect, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Check the connection by beginning its transaction with the limits (see the module doc)."""
    limits = _limits_for_new_transaction()
    record.info.pop(LIMITS_SENT_AT_CHECKOUT, None)
    flags = record.record_info if record.record_info is not None else {}
    cursor = dbapi_connection.cursor()
    started = time.monotonic()
    try:
        if limits is None:
            cursor.execute(PING)
        else:
            cursor.execute(SET_LIMITS_BY_DRIVER, limits.parameters())
            record.info[LIMITS_SENT_AT_CHECKOUT] = limits
    except dialect.loaded_dbapi.Error as error:
        # A first dropped connection: the pool's are all stale (a restart), the pool opens a new
        # one and checks it again. That one failing too means the database is out: the error
        # then goes to the request as a database error (the 503 page), not as the pool's
        # "reconnection attempts exhausted", which no handler knows. A stale connection fails at
        # once; one dropped after a wait was turned away by a full pooler (PgBouncer's
        # query_wait_timeout closes the client) or an overloaded server, and a new one would only
        # wait as long again before the same 503.
        dropped = dialect.is_disconnect(error, dbapi_connection, cursor)
        stale = time.monotonic() - started < STALE_FAILS_WITHIN_SECONDS
        if dropped and stale and not flags.pop(RECONNECTED, False):
            flags[RECONNECTED] = True
            raise exc.InvalidatePoolError(f"the server dropped the connection: {error}") from error
        raise exc.DBAPIError.instance(PING, None, error, dialect.loaded_dbapi.Error, True, dropped, dialect) from error
    finally:
        cursor.close()
    flags.pop(RECONNECTED, None)


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
        limit_engine(db.engine)


def limit_engine(engine: Engine) -> None:
    """Give every transaction of ``engine`` the request's limits (the app's, a replica's)."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _on_begin)
        dialect = engine.dialect
        event.listen(
            engine, "checkout", lambda dbapi_connection, record, _proxy: _check_out(dialect, dbapi_connection, record)
        )
