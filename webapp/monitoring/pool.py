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

Besides the recent-window percentiles (what the dashboard's tiles show), three histograms count
every observation since the worker started, in fixed buckets shared by every worker, as HikariCP
and Micrometer do: acquire (waiting for a free connection on a full pool; 0 when one was free),
usage (how long a connection was held) and creation (opening one). Percentiles of several workers
cannot be combined; bucket counts can be summed, so the dashboard and Prometheus both compute a
p95 across all workers and hosts from them.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
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


# Upper bounds in seconds. Every worker of every release must use the same ones for their counts
# to add up: changing them is a breaking change of /metrics.
BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class HistogramCounts:
    """Observations per bucket (``counts[i]``: above bucket ``i - 1``, up to ``BUCKETS_SECONDS[i]``;
    the last one: above every bound) and their sum, since the worker started."""

    counts: tuple[int, ...] = field(default_factory=lambda: (0,) * (len(BUCKETS_SECONDS) + 1))
    sum_seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations up to it) pairs, ``math.inf`` last: Prometheus' ``le`` buckets."""
        running, pairs = 0, []
        for bound, count in zip((*BUCKETS_SECONDS, math.inf), self.counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs

    def plus(self, other: HistogramCounts) -> HistogramCounts:
        return HistogramCounts(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)), self.sum_seconds + other.sum_seconds
        )

    def quantile_ms(self, fraction: float) -> float | None:
        """The quantile estimated as Prometheus' ``histogram_quantile`` does: linear within the
        bucket it falls in; the largest finite bound when it falls above every bound."""
        total = self.count
        if total == 0:
            return None
        rank, lower, below = fraction * total, 0.0, 0
        for bound, running in self.cumulative():
            if running >= rank:
                if math.isinf(bound):
                    return BUCKETS_SECONDS[-1] * 1000.0
                share = (rank - below) / (running - below) if running > below else 1.0
                return (lower + (bound - lower) * share) * 1000.0
            lower, below = bound, running
        return None  # unreachable: the last bucket holds every observation

    @classmethod
    def from_stored(cls, data: object) -> HistogramCounts | None:
        """A published histogram, or ``None`` when the worker published none or other buckets."""
        if not isinstance(data, dict):
            return None
        counts, total = data.get("counts"), data.get("sum_seconds")
        if not isinstance(counts, Sequence) or len(counts) != len(BUCKETS_SECONDS) + 1:
            return None
        if not all(isinstance(count, int) for count in counts) or not isinstance(total, int | float):
            return None
        return cls(tuple(counts), float(total))


class Histogram:
    """Thread-safe :class:`HistogramCounts` that grows with every observation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (len(BUCKETS_SECONDS) + 1)
        self._sum_seconds = 0.0

    def observe(self, duration_ms: float) -> None:
        seconds = duration_ms / 1000.0
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le, "less or equal").
        bucket = bisect.bisect_left(BUCKETS_SECONDS, seconds)
        with self._lock:
            self._counts[bucket] += 1
            self._sum_seconds += seconds

    def counts(self) -> HistogramCounts:
        with self._lock:
            return HistogramCounts(tuple(self._counts), self._sum_seconds)

    def clear(self) -> None:
        with self._lock:
            self._counts = [0] * len(self._counts)
            self._sum_seconds = 0.0


class Timing:
    """One kind of duration, recorded both ways: the recent window and the lifetime histogram."""

    def __init__(self) -> None:
        self.window = TimingWindow()
        self.histogram = Histogram()

    def add(self, duration_ms: float) -> None:
        self.window.add(duration_ms)
        self.histogram.observe(duration_ms)

    def spread(self, since: float | None = None) -> Spread:
        return self.window.spread(since)

    def clear(self) -> None:
        self.window.clear()
        self.histogram.clear()


HISTOGRAM_FIELDS = ("acquire", "usage", "creation")


@dataclass(frozen=True)
class PoolSnapshot:
    """One worker's pool, as published to the shared store and shown per worker row.

    Sizes are ``None`` for pool classes without a fixed size (SQLite in-memory, NullPool). In
    HikariCP's terms ``size`` is the minimum (QueuePool opens connections lazily, then keeps that
    many) and ``max_connections`` the maximum; ``pending`` counts the requests inside a checkout now.
    """

    pool_class: str
    size: int | None
    max_overflow: int | None
    max_connections: int | None
    pending: int | None
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
    acquire: HistogramCounts | None
    usage: HistogramCounts | None
    creation: HistogramCounts | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoolSnapshot:
        """Read a published snapshot, tolerating fields a worker of another release lacks."""
        # Whatever the JSON holds, and None for a missing field.
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        for name in HISTOGRAM_FIELDS:
            fields[name] = HistogramCounts.from_stored(fields[name])
        return cls(**fields)


def _pool_figure(pool: Any, method: str) -> int | None:
    figure = getattr(pool, method, None)
    return figure() if callable(figure) else None


def _max_overflow(pool: Any) -> int | None:
    # QueuePool has no public accessor for its overflow limit.
    return getattr(pool, "_max_overflow", None)


def _max_connections(pool: Any) -> int | None:
    size, overflow = _pool_figure(pool, "size"), _max_overflow(pool)
    if size is None or overflow is None or overflow < 0:
        return None
    return size + overflow


def is_full(pool: Any) -> bool:
    """Whether a checkout now has to wait: every connection the pool may open is checked out.
    Pools without such a limit (NullPool, SQLite's, an unlimited overflow) never make one wait."""
    limit, checked_out = _max_connections(pool), _pool_figure(pool, "checkedout")
    return limit is not None and checked_out is not None and checked_out >= limit


class PoolMonitor:
    """Counts what the pool of one engine does; ``snapshot`` reads its current state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waits = Timing()
        self.holds = Timing()
        self.connects = Timing()
        self._in_use = 0
        self._pending = 0
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
            with self._lock:
                self._pending += 1
            try:
                return take_connection()
            except PoolTimeoutError:
                self._count("pool_timeouts")
                raise
            finally:
                waited_ms = (perf_counter() - started) * 1000.0 if queued else 0.0
                self.waits.add(waited_ms)
                with self._lock:
                    self._pending -= 1
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
            counters, wait_total_ms, pending = dict(self._counters), self._wait_total_ms, self._pending
        return PoolSnapshot(
            pool_class=type(pool).__name__,
            size=_pool_figure(pool, "size"),
            max_overflow=_max_overflow(pool),
            max_connections=_max_connections(pool),
            pending=pending,
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
            acquire=self.waits.histogram.counts(),
            usage=self.holds.histogram.counts(),
            creation=self.connects.histogram.counts(),
            **counters,
        )
