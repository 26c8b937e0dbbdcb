"""Statements slower than ``SLOW_QUERY_MS``, caught in the app through SQLAlchemy cursor events.

Works on any database. The hot path (every statement) is two event calls that read a clock; only
a statement over the threshold pays for normalizing and aggregating. Statements are folded into
PostgreSQL's fingerprint (``sql_text``) so the same query with other values counts once, and
neither parameter values nor literals are kept (they may hold personal data). SQLite statements
go through PostgreSQL's parser too: most parse, the others keep their lexed tokens with literals
replaced. Aggregates wait in memory until the publisher writes them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from time import perf_counter
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webapp.database import utcnow
from webapp.monitoring.sql_text import normalize

logger = logging.getLogger(__name__)

MAX_PENDING_FINGERPRINTS = 2_000
MAX_QUERY_CHARS = 4_000
# How much of a statement is normalised: a multi-row INSERT of a thousand rows (an import's chunk)
# has tens of thousands of placeholders, and normalising all of them took a second per statement
# (bench/import_tasks.py --profile), in the request, for text that is then cut to MAX_QUERY_CHARS.
MAX_NORMALIZED_CHARS = 4 * MAX_QUERY_CHARS
OUTSIDE_REQUEST = "(outside a request)"


@dataclass(frozen=True)
class SlowQuery:
    """One fingerprint's aggregate: pending in a worker, or as stored for every worker."""

    fingerprint: str
    query: str
    calls: int
    total_ms: float
    max_ms: float
    rows: int
    first_seen: datetime
    last_seen: datetime
    request_path: str

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def merged(self, other: SlowQuery) -> SlowQuery:
        latest = other if other.last_seen >= self.last_seen else self
        return replace(
            self,
            calls=self.calls + other.calls,
            total_ms=self.total_ms + other.total_ms,
            max_ms=max(self.max_ms, other.max_ms),
            rows=self.rows + other.rows,
            first_seen=min(self.first_seen, other.first_seen),
            last_seen=latest.last_seen,
            request_path=latest.request_path,
        )


def _request_path() -> str:
    """The route pattern, not the concrete URL: it groups pages and keeps ids out of the report."""
    if not has_request_context():
        return OUTSIDE_REQUEST
    rule = request.url_rule
    return rule.rule if rule is not None else request.path[:255]


class SlowQueryRecorder:
    """Aggregates slow statements of one worker process until the publisher drains them."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold_ms = threshold_ms
        self._lock = threading.Lock()
        self._pending: dict[str, SlowQuery] = {}
        self.dropped = 0

    def instrument(self, engine: Engine) -> None:
        # retval=True spares SQLAlchemy a wrapper call per statement: this runs for every statement.
        event.listen(engine, "before_cursor_execute", self._before_cursor_execute, retval=True)
        event.listen(engine, "after_cursor_execute", self._after_cursor_execute)

    @staticmethod
    def _before_cursor_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        if context is not None:
            context.monitoring_started_at = perf_counter()
        return statement, parameters

    def _after_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        started_at = getattr(context, "monitoring_started_at", None)
        if started_at is None:
            return
        elapsed_ms = (perf_counter() - started_at) * 1000.0
        if elapsed_ms < self.threshold_ms:
            return
        try:
            self.record(statement, elapsed_ms, max(cursor.rowcount, 0), conn.dialect.paramstyle)
        except Exception:  # recording must never fail the statement that was slow
            logger.warning("could not record a slow statement", exc_info=True)

    def record(self, statement: str, elapsed_ms: float, rows: int, paramstyle: str | None = None) -> None:
        normalized = normalize(statement[:MAX_NORMALIZED_CHARS], paramstyle)
        now = utcnow()
        capture = SlowQuery(
            fingerprint=normalized.fingerprint,
            query=normalized.text[:MAX_QUERY_CHARS],
            calls=1,
            total_ms=elapsed_ms,
            max_ms=elapsed_ms,
            rows=rows,
            first_seen=now,
            last_seen=now,
            request_path=_request_path(),
        )
        self.merge([capture])

    def merge(self, captures: list[SlowQuery]) -> None:
        """Add aggregates (new captures, or a batch the store refused) to the pending ones."""
        with self._lock:
            for capture in captures:
                known = self._pending.get(capture.fingerprint)
                if known is not None:
                    self._pending[capture.fingerprint] = known.merged(capture)
                elif len(self._pending) < MAX_PENDING_FINGERPRINTS:
                    self._pending[capture.fingerprint] = capture
                else:
                    self.dropped += capture.calls

    def drain(self) -> list[SlowQuery]:
        """Hand over everything pending, in fingerprint order so concurrent upserts lock rows alike."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return sorted(pending.values(), key=lambda capture: capture.fingerprint)

    def clear(self) -> None:
        with self._lock:
            self._pending = {}
            self.dropped = 0
