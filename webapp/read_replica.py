"""List pages, counts and exports read on a streaming replica (``DATABASE_REPLICA_URL``) when it
is close enough behind the primary; everything else reads and writes on the primary.

Which requests: ``GET`` of a list page or an export (:data:`READ_ENDPOINTS`), or of the
dashboard's stored figures (:data:`DASHBOARD_READ_ENDPOINTS`: its history and captured
statements), by an operator who has not written in the last ``READ_YOUR_WRITES_SECONDS`` (every
request that is not ``GET`` or ``HEAD`` counts as a write, but signing in and out; the time is
kept in the browser's session cookie, so it holds on every host). Within such a request only
plain reads go to the replica (``webapp.database.RoutingSession``): who is signed in is always
read on the primary.

Whether the replica may serve: each worker asks it, at most every :data:`RECHECK_SECONDS` (every
:data:`RECHECK_DOWN_SECONDS` while it is unreachable, so that pages do not each wait for its
connect timeout), how far its replay is behind what it has received. Unreachable, not a standby,
or more than ``REPLICA_MAX_LAG_SECONDS`` behind, and reads go to the primary; the dashboard shows
the replica's state and lag.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, session
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from webapp.config import DEAD_CONNECTION_DETECTION
from webapp.database import REPLICA_READS
from webapp.database_limits import limit_engine
from webapp.extensions import db
from webapp.monitoring.connection_names import name_connections

EXTENSION = "read_replica"
# The browser's session: until when (epoch seconds) its pages read the primary.
PRIMARY_UNTIL = "primary_reads_until"
READ_ENDPOINTS = ("index_view", "export")
# The dashboard's pages: their stored figures read there (``monitoring.report.PanelReader.stored``).
DASHBOARD_READ_ENDPOINTS = frozenset({"dashboard.index", "dashboard.data", "dashboard.statements"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RECHECK_SECONDS = 1.0
RECHECK_DOWN_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest: it reads 1 as 2
# Replay lag in seconds: none when the replica has replayed all it received (an idle primary
# sends nothing, and the last replayed transaction's age would read as a growing lag).
LAG_QUERY = text(
    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


@dataclass(frozen=True)
class ReplicaState:
    """What the last check found: whether reads may go there, its lag, and if not, why."""

    usable: bool
    lag_seconds: float | None
    max_lag_seconds: float
    reason: str
    checked_at: float
    reachable: bool = True


class ReadReplica:
    """The replica's engine (a pool of its own in each worker) and its last known state."""

    def __init__(self, url: str, max_lag_seconds: float, pool_options: dict[str, Any]) -> None:
        options = {
            **pool_options,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **DEAD_CONNECTION_DETECTION},
        }
        self.engine: Engine = create_engine(url, **options)
        self.max_lag_seconds = max_lag_seconds
        self._state: ReplicaState | None = None
        self._lock = threading.Lock()

    def state(self) -> ReplicaState:
        """The state, checked again once it is older than its recheck interval."""
        state = self._state
        if state is not None and time.monotonic() - state.checked_at < _recheck_after(state):
            return state
        with self._lock:  # one thread of the worker checks; the others use its answer
            state = self._state
            if state is None or time.monotonic() - state.checked_at >= _recheck_after(state):
                state = self._state = self._check()
        return state

    def _check(self) -> ReplicaState:
        try:
            with self.engine.connect() as connection:
                in_recovery, lag = connection.execute(LAG_QUERY).one()
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().partition("\n")[0]
            return self._found(False, None, f"unreachable: {reason[:200]}", reachable=False)
        lag = float(lag)
        if not in_recovery:
            return self._found(False, None, "it is not a standby (pg_is_in_recovery() is false)")
        if lag > self.max_lag_seconds:
            return self._found(False, lag, f"{lag:.1f} s behind, more than REPLICA_MAX_LAG_SECONDS")
        return self._found(True, lag, "")

    def _found(self, usable: bool, lag: float | None, reason: str, reachable: bool = True) -> ReplicaState:
        return ReplicaState(usable, lag, self.max_lag_seconds, reason, time.monotonic(), reachable)


def _recheck_after(state: ReplicaState) -> float:
    return RECHECK_SECONDS if state.reachable else RECHECK_DOWN_SECONDS


def init_read_replica(app: Flask) -> None:
    url = app.config["DATABASE_REPLICA_URL"]
    if url is None:
        return
    pool_options = {
        name: value
        for name, value in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items()
        if name in {"pool_size", "max_overflow", "pool_timeout", "pool_recycle", "hide_parameters"}
    }
    replica = ReadReplica(url, app.config["REPLICA_MAX_LAG_SECONDS"], pool_options)
    limit_engine(replica.engine)
    name_connections(replica.engine, app.config["APP_HOST"], "replica reads")
    app.extensions[EXTENSION] = replica
    app.before_request(_route_reads)
    app.after_request(_remember_writes)
    app.teardown_request(_forget_route)


def current_replica() -> ReadReplica | None:
    replica: ReadReplica | None = current_app.extensions.get(EXTENSION)
    return replica


def _route_reads() -> None:
    replica = current_replica()
    if replica is None or request.method not in ("GET", "HEAD") or not _reads_only(request.endpoint):
        return
    if session.get(PRIMARY_UNTIL, 0) > time.time():
        return  # the operator's own write may not have reached the replica yet
    if replica.state().usable:
        db.session.info[REPLICA_READS] = replica.engine


def _reads_only(endpoint: str | None) -> bool:
    if endpoint is None:
        return False
    return endpoint.rpartition(".")[2] in READ_ENDPOINTS or endpoint in DASHBOARD_READ_ENDPOINTS


def _remember_writes(response: Any) -> Any:
    # Signing in and out writes only sessions, which are read on the primary anyway.
    if request.method not in SAFE_METHODS and request.blueprint != "auth":
        seconds = current_app.config["READ_YOUR_WRITES_SECONDS"]
        if seconds:
            session[PRIMARY_UNTIL] = time.time() + seconds
    return response


def request_reads() -> Engine | None:
    """Where this request reads (the replica's engine), or None: the primary."""
    engine: Engine | None = db.session.info.get(REPLICA_READS)
    return engine


def read_on(engine: Engine | None) -> None:
    """Read on ``engine`` (from :func:`request_reads`) in a session of the same request's, such
    as the one a streamed response runs in."""
    if engine is not None:
        db.session.info[REPLICA_READS] = engine


def _forget_route(_error: BaseException | None) -> None:
    """The session may outlive the request (a test's app context): the route must not."""
    db.session.info.pop(REPLICA_READS, None)
