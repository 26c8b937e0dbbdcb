"""Statement statistics over time, kept by the app, so that resetting ``pg_stat_statements`` (or
a server restart) no longer loses them.

``pg_stat_statements`` only holds running totals since its last reset. Each round, one worker
stores what changed since the previous round (a delta per statement), and the dashboard sums
deltas over 1 h, 24 h or 7 d, and compares a window with the one before it ("regressed").

**One worker per round, across all hosts**, is elected through the database: the round runs in a
transaction that first takes ``pg_try_advisory_xact_lock`` (released at commit, so it works
through PgBouncer in transaction mode, where a session lock would stay on whichever server
connection took it), then checks when the last round was stored, by the database's clock. A worker
that does not get the lock, or finds a recent round, does nothing.

**Deltas survive resets**: a statement whose calls went down since the last round (its entry was
reset or evicted and has come back) counts from zero; statements gone from the view lose their
baseline, so they count from zero when they come back; a reset of the whole view
(``pg_stat_statements_info.stats_reset`` moved) restarts every baseline.

**Rolled up by the hour**: rounds older than ``ROLL_UP_AFTER`` (24 h) are added up per statement
and hour into ``monitoring_statement_hourly`` and their deltas deleted, so the 7 d window (and the
window before it, for regressions) reads hours rather than 5-minute rounds. Windows read both
tables, each holding what the other does not; the rows of one rolled hour count in a window by
the hour's start, so a window reaching back past 24 h starts to within the hour. The round rows
themselves stay (one per round) until they expire.

**Bounded**: a round stores the ``TOP_PER_ROUND`` statements that took the most time in it; each
round rolls up at most ``ROLL_UP_ROUNDS_PER_PASS`` rounds and prunes at most
``PRUNE_ROUNDS_PER_PASS`` expired rounds (with their deltas and hours).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, Text, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database_limits import DASHBOARD_CAP_SECONDS, SET_LIMITS, Limits
from webapp.extensions import db
from webapp.monitoring.pg_statements import statement_texts

TOP_PER_ROUND = 100
UPSERT_CHUNK = 1000
PRUNE_ROUNDS_PER_PASS = 12
ROLL_UP_AFTER = timedelta(hours=24)
# Two hours of 5-minute rounds: a backlog (after an outage, or the upgrade that added the
# roll-up) is worked off faster than rounds arrive.
ROLL_UP_ROUNDS_PER_PASS = 24
# "monitoring history" as a 64-bit advisory lock key, in no other use by this app.
ELECTION_LOCK = 0x6D6F6E686973
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
SHOWN = 50
# A regression needs this many calls in both windows: a handful of calls is noise.
REGRESSION_MIN_CALLS = 20


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class StatementRound(db.Model):  # type: ignore[name-defined]
    """One stored round: when (the database's clock), and the statistics reset it was read under."""

    __tablename__ = "monitoring_statement_rounds"

    captured_at: Mapped[datetime] = mapped_column(primary_key=True)
    stats_reset: Mapped[datetime | None] = mapped_column(nullable=True)
    statements: Mapped[int] = mapped_column(Integer, nullable=False)


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class StatementBaseline(db.Model):  # type: ignore[name-defined]
    """A statement's running totals as last read: the next round's delta starts from them."""

    __tablename__ = "monitoring_statement_baselines"

    queryid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class StatementText(db.Model):  # type: ignore[name-defined]
    """A stored statement's text, without literals (``sql_text``); kept while history refers to it."""

    __tablename__ = "monitoring_statement_texts"

    queryid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(16), nullable=False)
    query: Mapped[str] = mapped_column(Text, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(nullable=False)


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class StatementDelta(db.Model):  # type: ignore[name-defined]
    """What one statement did during one round."""

    __tablename__ = "monitoring_statement_history"

    captured_at: Mapped[datetime] = mapped_column(primary_key=True)
    queryid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class StatementHour(db.Model):  # type: ignore[name-defined]
    """What one statement did during one hour (UTC) of rounds older than ``ROLL_UP_AFTER``."""

    __tablename__ = "monitoring_statement_hourly"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    queryid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)


CURRENT_TOTALS = text(
    """
    SELECT queryid, sum(calls)::bigint AS calls, sum(total_exec_time) AS total_ms, sum(rows)::bigint AS rows
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL
    GROUP BY queryid
    """
)
STATS_RESET = text("SELECT stats_reset FROM pg_stat_statements_info")


@dataclass(frozen=True)
class Totals:
    calls: int
    total_ms: float
    rows: int

    def since(self, baseline: Totals | None) -> Totals:
        """What happened since ``baseline``; everything, when the counters went back (a reset)."""
        if baseline is None or self.calls < baseline.calls or self.total_ms < baseline.total_ms:
            return self
        return Totals(self.calls - baseline.calls, self.total_ms - baseline.total_ms, self.rows - baseline.rows)


@dataclass(frozen=True)
class Election:
    now: datetime
    first_round: bool
    last_stats_reset: datetime | None


def _elected(connection: Connection, every: timedelta) -> Election | None:
    """Whether this transaction should store a round (by the database's clock), else ``None``."""
    if not connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ELECTION_LOCK}):
        return None  # another worker is storing this round right now
    now: datetime = connection.scalar(text("SELECT now()"))
    rounds = StatementRound.__table__
    last = connection.execute(select(rounds).order_by(rounds.c.captured_at.desc()).limit(1)).first()
    if last is not None and now - last.captured_at < every:
        return None
    return Election(now, last is None, None if last is None else last.stats_reset)


def store_round(connection: Connection, every: timedelta, keep: timedelta) -> bool:
    """Store one round if this worker is elected for it (the caller commits); True if it was.

    Runs outside any request, under the dashboard's limits all the same: introspection must not
    add to a database that is struggling."""
    limits = Limits(DASHBOARD_CAP_SECONDS, DASHBOARD_CAP_SECONDS)
    connection.execute(SET_LIMITS, limits.parameters())
    election = _elected(connection, every)
    if election is None:
        return False
    now = election.now
    stats_reset = connection.scalar(STATS_RESET)
    current = {row.queryid: Totals(row.calls, row.total_ms, row.rows) for row in connection.execute(CURRENT_TOTALS)}
    # The whole view was reset since the last round: every statement counts from zero.
    whole_view_reset = election.first_round or stats_reset != election.last_stats_reset
    baselines = {} if whole_view_reset else _baselines(connection)
    deltas = {queryid: totals.since(baselines.get(queryid)) for queryid, totals in current.items()}
    # The first round only sets the baselines: totals since long ago are no one round's work.
    top = [] if election.first_round else _costliest(deltas)
    connection.execute(
        insert(StatementRound.__table__).values(captured_at=now, stats_reset=stats_reset, statements=len(top))
    )
    if top:
        connection.execute(
            insert(StatementDelta.__table__),
            [{"captured_at": now, "queryid": queryid, **asdict(delta)} for queryid, delta in top],
        )
        _save_texts(connection, [queryid for queryid, _ in top], now)
    _save_baselines(connection, current, baselines, restart=whole_view_reset)
    prune(connection, now - keep)  # first: what expires is not worth rolling up
    roll_up(connection, now - ROLL_UP_AFTER)
    return True


def _costliest(deltas: dict[int, Totals]) -> list[tuple[int, Totals]]:
    ran = [(queryid, delta) for queryid, delta in deltas.items() if delta.calls > 0]
    return sorted(ran, key=lambda item: item[1].total_ms, reverse=True)[:TOP_PER_ROUND]


def _baselines(connection: Connection) -> dict[int, Totals]:
    table = StatementBaseline.__table__
    return {row.queryid: Totals(row.calls, row.total_ms, row.rows) for row in connection.execute(select(table))}


def _save_baselines(
    connection: Connection, current: dict[int, Totals], baselines: dict[int, Totals], restart: bool
) -> None:
    table = StatementBaseline.__table__
    if restart:
        connection.execute(delete(table))
    elif gone := [queryid for queryid in baselines if queryid not in current]:
        connection.execute(delete(table).where(table.c.queryid.in_(gone)))
    changed = [
        {"queryid": queryid, **asdict(totals)}
        for queryid, totals in current.items()
        if baselines.get(queryid) != totals
    ]
    for start in range(0, len(changed), UPSERT_CHUNK):
        statement = insert(table).values(changed[start : start + UPSERT_CHUNK])
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["queryid"],
                set_={name: statement.excluded[name] for name in ("calls", "total_ms", "rows")},
            )
        )


def _save_texts(connection: Connection, queryids: list[int], now: datetime) -> None:
    rows = [
        {"queryid": queryid, "fingerprint": normalized.fingerprint, "query": normalized.text, "last_seen": now}
        for queryid, normalized in statement_texts(connection, queryids).items()
    ]
    if not rows:
        return
    statement = insert(StatementText.__table__).values(rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["queryid"],
            set_={name: statement.excluded[name] for name in ("fingerprint", "query", "last_seen")},
        )
    )


# One statement: the oldest rounds before the cutoff that still have deltas, their deltas deleted
# and added to their hours (an hour rolled in several passes adds up).
ROLL_UP = text(
    """
    WITH batch AS (
        SELECT DISTINCT captured_at FROM monitoring_statement_history
        WHERE captured_at < :before
        ORDER BY captured_at
        LIMIT :rounds
    ), moved AS (
        DELETE FROM monitoring_statement_history AS deltas USING batch
        WHERE deltas.captured_at = batch.captured_at
        RETURNING deltas.captured_at, deltas.queryid, deltas.calls, deltas.total_ms, deltas.rows
    )
    INSERT INTO monitoring_statement_hourly AS hourly (hour, queryid, calls, total_ms, rows)
    SELECT date_trunc('hour', captured_at, 'UTC'), queryid, sum(calls), sum(total_ms), sum(rows)
    FROM moved
    GROUP BY 1, 2
    ON CONFLICT (hour, queryid) DO UPDATE
    SET calls = hourly.calls + excluded.calls,
        total_ms = hourly.total_ms + excluded.total_ms,
        rows = hourly.rows + excluded.rows
    """
)


def roll_up(connection: Connection, before: datetime) -> None:
    """Move the deltas of up to ``ROLL_UP_ROUNDS_PER_PASS`` rounds older than ``before`` (oldest
    first) into their hours."""
    connection.execute(ROLL_UP, {"before": before, "rounds": ROLL_UP_ROUNDS_PER_PASS})


def prune(connection: Connection, before: datetime) -> None:
    """Delete up to ``PRUNE_ROUNDS_PER_PASS`` rounds older than ``before`` (oldest first), their
    deltas, the hours that began before the newest of them, and the texts no delta that is kept
    refers to (a text is refreshed by every round that stores its statement)."""
    rounds, deltas, texts = StatementRound.__table__, StatementDelta.__table__, StatementText.__table__
    hours = StatementHour.__table__
    expired = connection.scalars(
        select(rounds.c.captured_at)
        .where(rounds.c.captured_at < before)
        .order_by(rounds.c.captured_at)
        .limit(PRUNE_ROUNDS_PER_PASS)
    ).all()
    if not expired:
        return
    newest_expired = expired[-1]
    connection.execute(delete(deltas).where(deltas.c.captured_at <= newest_expired))
    connection.execute(delete(hours).where(hours.c.hour < newest_expired))
    connection.execute(delete(rounds).where(rounds.c.captured_at <= newest_expired))
    connection.execute(delete(texts).where(texts.c.last_seen <= newest_expired))


def forget_baselines(connection: Connection) -> None:
    """After the dashboard's reset of pg_stat_statements: the next round counts from zero."""
    connection.execute(delete(StatementBaseline.__table__))


@dataclass(frozen=True)
class StatementTrend:
    queryid: int
    fingerprint: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    previous_calls: int
    previous_mean_ms: float | None
    change_ratio: float | None


@dataclass(frozen=True)
class HistoryReport:
    window: str
    since: datetime
    rounds: int
    oldest_round: datetime | None
    top: list[StatementTrend]
    regressed: list[StatementTrend]
    regression_percent: int
    regression_min_calls: int


# Both lists in one statement, compared in the database: a week holds up to 200,000 rows, and
# only the 2 × SHOWN rows shown should leave it. The rounds of the last ROLL_UP_AFTER are still
# deltas, older ones hours: each window reads both, every row in one of them only.
TRENDS = text(
    """
    WITH kept AS (
        SELECT captured_at AS at, queryid, calls, total_ms, rows
        FROM monitoring_statement_history
        WHERE captured_at > :previous_start AND captured_at <= :now
        UNION ALL
        SELECT hour, queryid, calls, total_ms, rows
        FROM monitoring_statement_hourly
        WHERE hour > :previous_start AND hour <= :now
    ), sums AS (
        -- One pass over both windows: the rows are read once, not once per window.
        SELECT queryid,
               sum(calls) FILTER (WHERE at > :start) AS calls,
               sum(total_ms) FILTER (WHERE at > :start) AS total_ms,
               sum(rows) FILTER (WHERE at > :start) AS rows,
               coalesce(sum(calls) FILTER (WHERE at <= :start), 0) AS previous_calls,
               sum(total_ms) FILTER (WHERE at <= :start) AS previous_total_ms
        FROM kept
        GROUP BY queryid
    ), compared AS (
        SELECT queryid, calls, total_ms, rows, total_ms / calls AS mean_ms, previous_calls,
               previous_total_ms / NULLIF(previous_calls, 0) AS previous_mean_ms
        FROM sums
        WHERE calls > 0
    ), top AS (
        SELECT 'top' AS list, * FROM compared ORDER BY total_ms DESC LIMIT :shown
    ), regressed AS (
        SELECT 'regressed' AS list, * FROM compared
        WHERE calls >= :min_calls AND previous_calls >= :min_calls AND previous_mean_ms > 0
          AND mean_ms >= :factor * previous_mean_ms
        ORDER BY mean_ms / previous_mean_ms DESC LIMIT :shown
    )
    SELECT listed.*, texts.fingerprint, texts.query
    FROM (SELECT * FROM top UNION ALL SELECT * FROM regressed) AS listed
    LEFT JOIN monitoring_statement_texts AS texts USING (queryid)
    """
)


def _trend(row: Any) -> StatementTrend:
    previous_mean = row.previous_mean_ms
    return StatementTrend(
        queryid=row.queryid,
        fingerprint=row.fingerprint or "",
        query=row.query or "(text no longer kept)",
        calls=int(row.calls),
        total_ms=float(row.total_ms),
        mean_ms=float(row.mean_ms),
        rows=int(row.rows),
        previous_calls=int(row.previous_calls),
        previous_mean_ms=previous_mean,
        change_ratio=row.mean_ms / previous_mean - 1 if previous_mean else None,
    )


def history_report(connection: Connection, window: str, regression_percent: int) -> HistoryReport:
    """Per statement over the window: time, calls, mean; and those whose mean rose against the
    window before by ``regression_percent`` or more, with enough calls in both to matter."""
    length = WINDOWS[window]
    now: datetime = connection.scalar(text("SELECT now()"))
    rows = connection.execute(
        TRENDS,
        {
            "now": now,
            "start": now - length,
            "previous_start": now - 2 * length,
            "shown": SHOWN,
            "min_calls": REGRESSION_MIN_CALLS,
            "factor": 1 + regression_percent / 100,
        },
    ).all()
    rounds = StatementRound.__table__
    count, oldest = connection.execute(
        select(func.count(), func.min(rounds.c.captured_at)).where(rounds.c.captured_at > now - length)
    ).one()
    return HistoryReport(
        window=window,
        since=now - length,
        rounds=int(count),
        oldest_round=oldest,
        top=[_trend(row) for row in rows if row.list == "top"],
        regressed=[_trend(row) for row in rows if row.list == "regressed"],
        regression_percent=regression_percent,
        regression_min_calls=REGRESSION_MIN_CALLS,
    )
