"""Each worker process writes its figures to the shared store from a background thread.

The thread is started lazily by the first request a process serves, never at import or in
``create_app``: under gunicorn's ``preload_app`` the app is built in the master and forked, and a
thread (or a pooled connection) does not survive a fork. A process that finds itself forked also
drops what it inherited from its parent, which would otherwise be published once per child.

Publishing runs off the request path on its own one-connection engine, so a busy or exhausted
application pool neither delays it nor is distorted by it, and a failure is logged and retried on
the next round with nothing lost: it never reaches a request.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from webapp.database import utcnow
from webapp.monitoring import statement_history, store
from webapp.monitoring.connection_names import name_connections
from webapp.monitoring.pool import PoolMonitor
from webapp.monitoring.slow_queries import SlowQuery, SlowQueryRecorder

logger = logging.getLogger(__name__)

# A worker is stale once it has missed this many rounds, and forgotten after that many.
STALE_AFTER_ROUNDS = 3
DROP_AFTER_ROUNDS = 30
STOP_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class HistorySettings:
    """How often one worker stores pg_stat_statements deltas, and for how long they are kept."""

    every: timedelta
    keep: timedelta


class Publisher:
    def __init__(
        self,
        app_engine: Engine,
        pool: PoolMonitor,
        slow_queries: SlowQueryRecorder,
        interval_seconds: int,
        history: HistorySettings | None = None,
        host: str | None = None,
    ) -> None:
        self.app_engine = app_engine
        self.pool = pool
        self.slow_queries = slow_queries
        self.interval = timedelta(seconds=interval_seconds)
        self.history = history
        # APP_HOST when several app hosts run on one machine (or in containers named alike).
        self.host = host or socket.gethostname()
        self.started_at = utcnow()
        # Held while a round runs, so a reset in this process cannot interleave with one.
        self.lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._created_in_pid = os.getpid()
        self._running_in_pid: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._published = False
        self._last_round = monotonic()

    @property
    def pid(self) -> int:
        return os.getpid()

    @property
    def stale_after(self) -> timedelta:
        return self.interval * STALE_AFTER_ROUNDS

    @property
    def drop_after(self) -> timedelta:
        return self.interval * DROP_AFTER_ROUNDS

    def ensure_running(self) -> None:
        """Called before every request: a pid comparison, except in a process's first request."""
        if self._running_in_pid == os.getpid():
            return
        with self._start_lock:
            if self._running_in_pid == os.getpid():
                return
            if self._created_in_pid != os.getpid():
                self._forget_inherited_state()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="monitoring-publisher", daemon=True)
            self._running_in_pid = os.getpid()
            self._thread.start()
            atexit.register(self.stop)

    def _forget_inherited_state(self) -> None:
        self.pool.reset()
        self.slow_queries.clear()
        self.started_at = utcnow()
        if self._engine is not None:
            # The parent's connections are not ours: drop them without closing the parent's sockets.
            self._engine.dispose(close=False)
            self._engine = None
        self._published = False

    def _run(self) -> None:
        # The first round waits too: a worker's first requests (connecting, warming up) come first.
        while not self._stopping.wait(self.interval.total_seconds()):
            self.publish_logged()
        self._leave()

    def publish_logged(self) -> bool:
        try:
            self.publish_once()
        except Exception:  # the store may be down: keep the worker serving
            logger.warning("could not publish database monitoring figures; retrying next round", exc_info=True)
            return False
        return True

    def publish_once(self, now: datetime | None = None) -> None:
        """One round: this worker's pool snapshot, a history sample and the pending slow queries."""
        now = now or utcnow()
        with self.lock:
            captures = self.slow_queries.drain()
            try:
                with self.engine().begin() as connection:
                    if self._published and not store.worker_exists(connection, self.host, self.pid):
                        self.pool.reset()  # an operator reset the statistics since our last round
                    self._save_pool(connection, now, captures)
                    store.save_slow_queries(connection, captures)
                    store.prune(connection, now, drop_workers_before=now - self.drop_after)
            except Exception:
                self.slow_queries.merge(captures)
                raise
            self._published = True
        self.store_statement_history()

    def store_statement_history(self) -> bool:
        """This round's pg_stat_statements deltas, if this worker is elected to store them; its
        own transaction, so a failure here (no extension, no privilege) leaves the pool's round be."""
        if self.history is None or self.app_engine.dialect.name != "postgresql":
            return False
        try:
            with self.engine().begin() as connection:
                return statement_history.store_round(connection, self.history.every, self.history.keep)
        except Exception:
            logger.warning("could not store the statement history; retrying next round", exc_info=True)
            return False

    def _save_pool(self, connection: Connection, now: datetime, captures: list[SlowQuery]) -> None:
        round_started, self._last_round = self._last_round, monotonic()
        waits = self.pool.waits.spread(since=round_started)
        store.save_worker(connection, self.host, self.pid, self.started_at, now, self.pool.snapshot(self.app_engine))
        store.save_sample(
            connection,
            self.host,
            self.pid,
            now,
            self.pool.take_peak(),
            waits.p95_ms or 0.0,
            waits.max_ms or 0.0,
            slow_calls=sum(capture.calls for capture in captures),
            slow_ms=sum(capture.total_ms for capture in captures),
        )

    def forget_published_row(self) -> None:
        """After a reset by this process: our missing row is not news to us."""
        self._published = False

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                self.app_engine.url, pool_size=1, max_overflow=0, pool_pre_ping=True, hide_parameters=True
            )
            name_connections(self._engine, self.host, "monitoring")
        return self._engine

    def stop(self) -> None:
        """Flush and leave the store (a clean exit is not a stale worker); bounded in time.

        Rounds published without the thread (a test or a tool calling ``publish_once``) leave
        the publisher's connection open: it is closed here too, once no thread can use it."""
        thread = self._thread
        if thread is not None and self._running_in_pid == os.getpid():
            self._stopping.set()
            thread.join(STOP_TIMEOUT_SECONDS)
            self._thread = None
            self._running_in_pid = None
            if thread.is_alive():
                return
        self.dispose()

    def dispose(self) -> None:
        """Close the publisher's own connection; the next round opens another."""
        with self.lock:
            if self._engine is not None and self._created_in_pid == os.getpid():
                self._engine.dispose()
                self._engine = None

    def _leave(self) -> None:
        try:
            with self.lock:
                captures = self.slow_queries.drain()
                if not captures and not self._published:
                    return  # nothing to flush, no row to remove: no connection needed
                with self.engine().begin() as connection:
                    store.save_slow_queries(connection, captures)
                    store.forget_worker(connection, self.host, self.pid)
        except Exception:
            logger.warning("could not flush database monitoring figures at exit", exc_info=True)
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
