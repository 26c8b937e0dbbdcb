"""What the database health tests set up: another session running a long statement, and stored
statement-history rounds."""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg2
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tests.e2e.stack import libpq_url
from webapp.extensions import db
from webapp.monitoring.statement_history import StatementDelta, StatementRound, StatementText

SLEEP = "SELECT pg_sleep(60) /* long-running report */"
# The dashboard ranks this database's statements: a test that needs its own among the top first
# forgets the earlier tests' (pg_stat_statements outlives the tables a test empties).
FORGET_STATEMENTS = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)


@dataclass
class Sleeper:
    """Another session running a long statement in a thread; what ended it is kept."""

    url: str
    connection: psycopg2.extensions.connection = field(init=False)
    pid: int = field(init=False)
    ended_by: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connection = psycopg2.connect(libpq_url(self.url))
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        self.thread = threading.Thread(target=self._sleep, name="sleeper")
        self.thread.start()

    def _sleep(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(SLEEP)
        except psycopg2.errors.QueryCanceled:
            self.ended_by.append("cancel")
        except psycopg2.OperationalError:
            self.ended_by.append("terminate")

    def running(self, app: Flask) -> bool:
        with app.app_context():
            state = db.session.scalar(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": self.pid})
            db.session.rollback()
        return state == "active"

    def stop(self) -> None:
        if self.thread.is_alive():
            with closing(psycopg2.connect(libpq_url(self.url))) as other, other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", (self.pid,))
        self.thread.join(30)
        self.connection.close()


def seed_rounds(
    connection: Connection,
    rounds: list[tuple[timedelta, int, float]],
    queryid: int = 42,
    query: str = "SELECT * FROM tasks WHERE id = $1",
) -> None:
    """Rounds ``ago`` from now, each with one delta of ``calls`` totalling ``total_ms`` for
    ``queryid``, whose stored text is ``query``."""
    now = connection.scalar(text("SELECT now()"))
    for ago, calls, total_ms in rounds:
        connection.execute(
            StatementRound.__table__.insert().values(captured_at=now - ago, stats_reset=None, statements=1)
        )
        connection.execute(
            StatementDelta.__table__.insert().values(
                captured_at=now - ago, queryid=queryid, calls=calls, total_ms=total_ms, rows=calls
            )
        )
    connection.execute(
        StatementText.__table__.insert().values(
            queryid=queryid, fingerprint="00000000000000bb", query=query, last_seen=now
        )
    )
