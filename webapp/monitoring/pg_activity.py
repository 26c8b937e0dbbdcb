"""What the PostgreSQL server is doing right now (``pg_stat_activity``): connections by state,
measured against ``max_connections``, and the statements running for too long.

Query texts of other sessions are shown without their literals, as the captured slow queries are
(``sql_text``): the values in them may be personal data, and the shape is what an operator needs.
A text cut by ``track_activity_query_size`` is shown up to where its literals begin.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from webapp.monitoring.sql_text import safe_text

# Reported as long-running from this age on: slow enough that no web request should wait on it.
LONG_RUNNING_SECONDS = 5.0

CONNECTIONS_BY_STATE = text(
    """
    SELECT coalesce(state, 'unknown') AS state, count(*) AS connections,
           count(*) FILTER (WHERE datname = current_database()) AS in_this_database
    FROM pg_stat_activity
    WHERE backend_type = 'client backend'
    GROUP BY 1
    ORDER BY 2 DESC, 1
    """
)

LONG_RUNNING = text(
    """
    SELECT pid, usename AS username, application_name, state, wait_event_type, wait_event,
           extract(epoch FROM clock_timestamp() - query_start)::float8 AS seconds, query
    FROM pg_stat_activity
    WHERE backend_type = 'client backend'
      AND datname = current_database()
      AND state <> 'idle'
      AND pid <> pg_backend_pid()
      AND query_start < clock_timestamp() - make_interval(secs => :seconds)
    ORDER BY query_start
    LIMIT 50
    """
)


@dataclass(frozen=True)
class ConnectionState:
    state: str
    connections: int
    in_this_database: int


@dataclass(frozen=True)
class RunningQuery:
    pid: int
    username: str | None
    application_name: str
    state: str
    waiting_for: str | None
    seconds: float
    query: str


@dataclass(frozen=True)
class ActivityReport:
    max_connections: int
    connections: int
    usage_ratio: float
    by_state: list[ConnectionState]
    long_running_after_seconds: float
    long_running: list[RunningQuery]


def activity_report(connection: Connection, long_running_after: float = LONG_RUNNING_SECONDS) -> ActivityReport:
    max_connections = int(connection.scalar(text("SELECT current_setting('max_connections')::int")))
    by_state = [ConnectionState(*row) for row in connection.execute(CONNECTIONS_BY_STATE)]
    total = sum(state.connections for state in by_state)
    long_running = [
        RunningQuery(
            pid=row.pid,
            username=row.username,
            application_name=row.application_name,
            state=row.state,
            waiting_for=f"{row.wait_event_type}: {row.wait_event}" if row.wait_event_type else None,
            seconds=row.seconds,
            query=safe_text(row.query or ""),
        )
        for row in connection.execute(LONG_RUNNING, {"seconds": long_running_after})
    ]
    return ActivityReport(
        max_connections=max_connections,
        connections=total,
        usage_ratio=total / max_connections,
        by_state=by_state,
        long_running_after_seconds=long_running_after,
        long_running=long_running,
    )
