"""Connection-pool metrics of this worker process, from SQLAlchemy pool events.

SQLAlchemy fires ``checkout`` only once a connection has been handed over and has no event for
the time spent queueing for one, so the wait is timed around ``Engine.raw_connection``: the one
door through which Connections (and so Sessions) take a connection from the pool. Wrapping the
engine rather than the pool object survives ``engine.dispose()``, which swaps in a new pool
(pool event listeners are carried over to it by SQLAlchemy itself).

Only a checkout that found every connection the pool may open in use waits for the pool; the time
any other checkout takes is opening a new connection (slow on a cold server: timed apart, from
``do_connect`` to ``connect``) or pinging an idle one. Counting those as waits raised a false
"pool exhausted" on an idle server. A checkout racing another for the last free connection may
be counted either way.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from time import monotonic, perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# Percentiles describe the last few minutes, not the process lifetime, so a calm hour does not
# hide a bad minute (and a long-gone spike does not linger).
WINDOW_SECONDS = 300
WINDOW_MAX_SAMPLES = 20_000
CHECKED_OUT_AT = "monitoring_checked_out_at"
CONNECTING_SINCE = "monitoring_connecting_since"


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: always a value that was really observed."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Spread:
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        ordered = sorted(values)
        return cls(percentile(ordered, 0.50), percentile(ordered, 0.95), ordered[-1] if ordered else None)


class TimingWindow:
    """Durations (ms) observed in the last ``WINDOW_SECONDS``, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque(maxlen=WINDOW_MAX_SAMPLES)

    def add(self, duration_ms: float) -> None:
        now = monotonic()
        with self._lock:
            self._samples.append((now, duration_ms))
            horizon = now - WINDOW_SECONDS
            while self._samples[0][0] < horizon:
                self._samples.popleft()

    def spread(self, since: float | None = None) -> Spread:
        """The spread over the window, or only over samples taken after ``since`` (monotonic)."""
        horizon = max(monotonic() - WINDOW_SECONDS, since or 0.0)
        with self._lock:
            values = [duration for taken_at, duration in self._samples if taken_at >= horizon]
        return Spread.of(values)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()


@dataclass(frozen=True)
class PoolSnapshot:
    """One worker's pool, as published to the shared store and shown per worker row.

    Sizes are ``None`` for pool classes without a fixed size (SQLite in-memory, NullPool).
    """

    pool_class: str
    size: int | None
    max_overflow: int | None
    checked_out: int | None
    idle: int | None
    overflow_in_use: int | None
    connections_opened: int
    checkouts: int
    invalidations: int
    pool_timeouts: int
    wait_count: int
    wait_total_ms: float
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    wait_max_ms: float | None
    hold_p50_ms: float | None
    hold_p95_ms: float | None
    hold_max_ms: float | None
    connect_p95_ms: float | None
    connect_max_ms: float | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoolSnapshot:
        """Read a published snapshot, tolerating fields a worker of another release lacks."""
        # Whatever the JSON holds, and None for a missing field.
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)


def _pool_figure(pool: Any, method: str) -> int | None:
    figure = getattr(pool, method, None)
    return figure() if callable(figure) else None


def _max_overflow(pool: Any) -> int | None:
    # QueuePool has no public accessor for its overflow limit.
    return getattr(pool, "_max_overflow", None)


def is_full(pool: Any) -> bool:
    """Whether a checkout now has to wait: every connection the pool may open is checked out.
    Pools without such a limit (NullPool, SQLite's, an unlimited overflow) never make one wait."""
    size, overflow, checked_out = _pool_figure(pool, "size"), _max_overflow(pool), _pool_figure(pool, "checkedout")
    if size is None or overflow is None or overflow < 0 or checked_out is None:
        return False
    return checked_out >= size + overflow


class PoolMonitor:
    """Counts what the pool of one engine does; ``snapshot`` reads its current state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waits = TimingWindow()
        self.holds = TimingWindow()
        self.connects = TimingWindow()
        self._in_use = 0
        self._peak_in_use = 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._counters = {
            "connections_opened": 0,
            "checkouts": 0,
            "invalidations": 0,
            "pool_timeouts": 0,
            "wait_count": 0,
        }
        self._wait_total_ms = 0.0

    def instrument(self, engine: Engine) -> None:
        event.listen(engine, "do_connect", self._on_connecting)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)
        event.listen(engine, "invalidate", self._on_invalidate)
        event.listen(engine, "soft_invalidate", self._on_invalidate)
        self._time_checkouts(engine)

    def _time_checkouts(self, engine: Engine) -> None:
        take_connection = engine.raw_connection

        def raw_connection_timed() -> Any:
            queued = is_full(engine.pool)
            started = perf_counter()
            try:
                return take_connection()
            except PoolTimeoutError:
                self._count("pool_timeouts")
                raise
            finally:
                waited_ms = (perf_counter() - started) * 1000.0 if queued else 0.0
                self.waits.add(waited_ms)
                with self._lock:
                    self._counters["wait_count"] += 1
                    self._wait_total_ms += waited_ms

        # SQLAlchemy types raw_connection as a method, not as an attribute an instance may replace.
        engine.raw_connection = raw_connection_timed  # type: ignore[method-assign]

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _on_connecting(self, dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        record.record_info[CONNECTING_SINCE] = perf_counter()

    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        self._count("connections_opened")
        connecting_since = record.record_info.pop(CONNECTING_SINCE, None)
        if connecting_since is not None:
            self.connects.add((perf_counter() - connecting_since) * 1000.0)

    def _on_invalidate(self, dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        self._count("invalidations")

    def _on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.record_info[CHECKED_OUT_AT] = perf_counter()
        with self._lock:
            self._counters["checkouts"] += 1
            self._in_use += 1
            self._peak_in_use = max(self._peak_in_use, self._in_use)

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        checked_out_at = record.record_info.pop(CHECKED_OUT_AT, None) if record is not None else None
        if checked_out_at is None:
            return
        self.holds.add((perf_counter() - checked_out_at) * 1000.0)
        with self._lock:
            self._in_use -= 1

    def take_peak(self) -> int:
        """The most connections held at once since the previous call (one history sample)."""
        with self._lock:
            peak, self._peak_in_use = self._peak_in_use, self._in_use
        return peak

    def reset(self) -> None:
        """Start the counters and windows afresh; connections held right now stay counted."""
        with self._lock:
            self._reset_counters()
        self.waits.clear()
        self.holds.clear()
        self.connects.clear()

    def snapshot(self, engine: Engine) -> PoolSnapshot:
        pool = engine.pool
        overflow = _pool_figure(pool, "overflow")
        wait, hold, connect = self.waits.spread(), self.holds.spread(), self.connects.spread()
        with self._lock:
            counters, wait_total_ms = dict(self._counters), self._wait_total_ms
        return PoolSnapshot(
            pool_class=type(pool).__name__,
            size=_pool_figure(pool, "size"),
            max_overflow=_max_overflow(pool),
            checked_out=_pool_figure(pool, "checkedout"),
            idle=_pool_figure(pool, "checkedin"),
            # QueuePool counts overflow from -size while the core pool is still filling up.
            overflow_in_use=None if overflow is None else max(overflow, 0),
            wait_total_ms=wait_total_ms,
            wait_p50_ms=wait.p50_ms,
            wait_p95_ms=wait.p95_ms,
            wait_max_ms=wait.max_ms,
            hold_p50_ms=hold.p50_ms,
            hold_p95_ms=hold.p95_ms,
            hold_max_ms=hold.max_ms,
            connect_p95_ms=connect.p95_ms,
            connect_max_ms=connect.max_ms,
            **counters,
        )
