"""Cancelling or terminating another backend of this database, as PgHero's "kill" does, safely.

The operator confirms a statement they saw: the confirmation carries the backend's pid, the
fingerprint of the statement it showed and when that statement started. The signal is sent only
if that very execution is still running (same pid, same ``query_start``, same fingerprint), so a
pid reused by another connection, or a backend that moved on to another statement, is left alone.
Never the dashboard's own connection (``pg_backend_pid()``), never a backend of another database,
never anything but a client backend (no autovacuum worker, no replication sender).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from webapp.monitoring.sql_text import normalize

SIGNALS = {"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}

OTHER_BACKEND = """
    FROM pg_stat_activity
    WHERE pid = :pid AND datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()
"""
BACKEND = text(
    "SELECT pid, usename AS username, application_name, state, query_start, "
    "extract(epoch FROM clock_timestamp() - query_start)::float8 AS seconds, query" + OTHER_BACKEND
)


@dataclass(frozen=True)
class Backend:
    pid: int
    username: str | None
    application_name: str
    state: str | None
    query_start: datetime | None
    seconds: float | None
    query: str
    fingerprint: str


class SignalRefused(ValueError):
    """The backend may not (or no longer) be signalled; the message says why."""


def find_backend(connection: Connection, pid: int) -> Backend | None:
    """Another client backend of this database, with its statement made safe to show."""
    row = connection.execute(BACKEND, {"pid": pid}).first()
    if row is None:
        return None
    normalized = normalize(row.query or "")
    return Backend(
        row.pid,
        row.username,
        row.application_name,
        row.state,
        row.query_start,
        row.seconds,
        normalized.text,
        normalized.fingerprint,
    )


def signal_backend(connection: Connection, pid: int, fingerprint: str, query_start: datetime, signal: str) -> Backend:
    """Send ``signal`` (cancel, terminate) to the backend if it still runs the statement confirmed."""
    function = SIGNALS.get(signal)
    if function is None:
        raise SignalRefused(f"Unknown action {signal!r}: choose cancel or terminate.")
    backend = find_backend(connection, pid)
    if backend is None:
        raise SignalRefused(f"Backend {pid} is not another connection to this database (any more): nothing was sent.")
    if backend.fingerprint != fingerprint or backend.query_start != query_start:
        raise SignalRefused(f"Backend {pid} has moved on to another statement since you confirmed: nothing was sent.")
    # Checked again in the same statement that signals, so that the checks and the signal see one state.
    sent = connection.scalar(
        text(f"SELECT {function}(pid)" + OTHER_BACKEND + " AND query_start = :query_start"),
        {"pid": pid, "query_start": query_start},
    )
    if not sent:
        raise SignalRefused(f"Backend {pid} had already finished that statement: nothing was sent.")
    return backend
